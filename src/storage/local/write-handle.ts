import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as nodePath from 'node:path';
import { StorageError } from '../errors.js';
import { BaseWriteHandle, checkFinalSize, type OpenWriteOptions, type WriteHandle } from '../handles.js';
import { resumeLength } from '../memory/write-handle.js';
import type { Entry, StoragePath } from '../types.js';

/** What the local handle needs of LocalStorage (the path already guarded against escapes). */
export interface LocalTarget {
  /** Absolute path of the file. */
  abs: string;
  path: StoragePath;
  /** errno → StorageError for this path. */
  translate: (err: unknown) => unknown;
  /** The entry at `path` once written. */
  stat: () => Promise<Entry>;
}

/** What `partialName` makes: files being written are named like this; listings hide them. */
export const PARTIAL_NAME = /^\.ferry-partial-[0-9a-f]{12}-/;

/**
 * The hidden name a file `name` is written under until complete: `.ferry-partial-<random>-`
 * and as much of `name` as fits in 255 bytes of UTF-8 (the file-name limit), cut between
 * characters — a cut by UTF-16 units would leave a valid long non-ASCII name too long to write.
 */
export function partialName(name: string): string {
  let out = `.ferry-partial-${randomBytes(6).toString('hex')}-`;
  let bytes = out.length;
  for (const ch of name) {
    bytes += Buffer.byteLength(ch);
    if (bytes > 255) break;
    out += ch;
  }
  return out;
}

/**
 * The local backend's write handle: a hidden partial file in the target's folder (named like the
 * partial files of `write`, so listings hide it), written at offsets, then renamed into place on
 * close — or, for `exclusive`, hard-linked into place (link fails if a file appeared: exactly
 * one racer wins) and unlinked. Abort removes the partial file.
 */
export async function openLocalWrite(target: LocalTarget, options: OpenWriteOptions): Promise<WriteHandle> {
  const { abs, path, translate } = target;
  const mode = options.mode ?? 'truncate';
  const dir = nodePath.dirname(abs);
  try {
    await fs.mkdir(dir, { recursive: true }).catch((err: NodeJS.ErrnoException) => {
      // EEXIST from `mkdir -p`: a file is in the way of a folder (as LocalStorage.write says).
      if (err.code !== 'EEXIST') throw err;
      throw new StorageError('NotADirectory', `not a folder: /${path}`, { path, cause: err });
    });
    const existing = await fs.stat(abs).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw err;
    });
    if (existing?.isDirectory()) throw new StorageError('IsADirectory', `is a folder: /${path}`, { path });
    if (mode === 'exclusive' && existing) {
      throw new StorageError('AlreadyExists', `already exists: /${path}`, { path });
    }
    const keep =
      mode === 'append' || mode === 'update'
        ? (existing?.size ?? 0)
        : mode === 'resume'
          ? resumeLength(path, existing?.size, options.resumeFrom)
          : 0;
    const partial = nodePath.join(dir, partialName(nodePath.basename(abs)));
    if (keep > 0) {
      // A reflink where the file system has them (btrfs, XFS): `update` of a big file is free.
      await fs.copyFile(abs, partial, fs.constants.COPYFILE_EXCL | fs.constants.COPYFILE_FICLONE);
      await fs.truncate(partial, keep);
    }
    const file = await fs.open(partial, keep > 0 ? 'r+' : mode === 'update' ? 'wx+' : 'wx');
    return new LocalWriteHandle(target, options, mode === 'update' ? 0 : keep, keep, partial, file);
  } catch (err) {
    throw translate(err);
  }
}

class LocalWriteHandle extends BaseWriteHandle {
  private size: number;

  constructor(
    private readonly target: LocalTarget,
    options: OpenWriteOptions,
    startOffset: number,
    private readonly keep: number,
    private readonly partial: string,
    private file: fs.FileHandle | undefined,
  ) {
    super(target.path, options, startOffset);
    this.size = keep;
  }

  protected override async doRead(offset: number, length: number): Promise<Buffer> {
    const n = Math.max(0, Math.min(length, this.size - offset));
    const out = Buffer.allocUnsafe(n);
    try {
      for (let at = 0; at < n; ) {
        const { bytesRead } = await this.file!.read(out, at, n - at, offset + at);
        // Past the end of what was written but inside `size`: a gap (zeros).
        if (bytesRead === 0) {
          out.fill(0, at);
          break;
        }
        at += bytesRead;
      }
    } catch (err) {
      throw this.target.translate(err);
    }
    return out;
  }

  protected async doWrite(offset: number, bytes: Uint8Array): Promise<void> {
    try {
      for (let at = 0; at < bytes.length; ) {
        const { bytesWritten } = await this.file!.write(bytes, at, bytes.length - at, offset + at);
        at += bytesWritten;
      }
    } catch (err) {
      throw this.target.translate(err);
    }
    this.size = Math.max(this.size, offset + bytes.length);
  }

  protected override async doTruncate(size: number): Promise<void> {
    try {
      await this.file!.truncate(size);
    } catch (err) {
      throw this.target.translate(err);
    }
    this.size = size;
  }

  protected async doClose(): Promise<Entry> {
    checkFinalSize(this.path, this.size, this.options.size);
    if (this.untouched && this.keep > 0) {
      // Opened and closed with nothing written or set: the file stays as it was (its mtime too).
      await this.doAbort();
      return this.target.stat();
    }
    const { abs } = this.target;
    try {
      await this.file!.close();
      this.file = undefined;
      const { mtime } = this.attrs;
      if (mtime) await fs.utimes(this.partial, mtime, mtime);
      if (this.options.mode === 'exclusive') {
        await fs.link(this.partial, abs).catch((err: NodeJS.ErrnoException) => {
          if (err.code === 'EEXIST') {
            throw new StorageError('AlreadyExists', `already exists: /${this.path}`, { path: this.path });
          }
          throw err;
        });
        await fs.rm(this.partial, { force: true });
      } else {
        const st = await fs.stat(abs).catch(() => undefined);
        if (st?.isDirectory()) {
          throw new StorageError('IsADirectory', `is a folder: /${this.path}`, { path: this.path });
        }
        await fs.rename(this.partial, abs);
      }
    } catch (err) {
      throw this.target.translate(err);
    }
    return this.target.stat();
  }

  protected async doAbort(): Promise<void> {
    await this.file?.close().catch(() => {});
    this.file = undefined;
    await fs.rm(this.partial, { force: true });
  }
}
