import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, type Dirent, type Stats } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as nodePath from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { bodyToReadable } from '../body.js';
import { StorageError, type StorageErrorCode } from '../errors.js';
import { baseName, joinPath, parentOf } from '../paths.js';
import type {
  AbortUnfinishedOptions,
  Entry,
  ListOptions,
  ReadOptions,
  Storage,
  StoragePath,
  WriteBody,
  WriteOptions,
} from '../types.js';
import { removePartialFiles } from './unfinished-writes.js';

/** Files being written are named like this until they are complete; listings hide them. */
const PARTIAL = /^\.ferry-partial-[0-9a-f]{12}-/;

/**
 * A folder on the local file system. Writes go to a hidden partial file in the target folder and
 * are renamed into place when complete, so a failed write leaves nothing behind.
 * Content type and user metadata are not kept (a plain folder has nowhere to put them).
 */
export class LocalStorage implements Storage {
  readonly description: string;
  private readonly root: string;

  /** The root's real path, when symlinks must not lead out of it (every root but `/`). */
  private readonly confinedTo: Promise<string> | undefined;

  constructor(root: string) {
    this.root = nodePath.resolve(root);
    this.description = this.root;
    this.confinedTo = this.root === '/' ? undefined : fs.realpath(this.root).catch(() => this.root);
  }

  async stat(path: StoragePath): Promise<Entry> {
    await this.guard(path);
    return toEntry(path, await this.fs('stat', path, () => fs.stat(this.abs(path))));
  }

  async *list(path: StoragePath, options: ListOptions = {}): AsyncIterable<Entry> {
    await this.guard(path);
    const st = await this.fs('list', path, () => fs.stat(this.abs(path)));
    if (!st.isDirectory()) throw new StorageError('NotADirectory', `not a folder: /${path}`, { path });
    const pending = [path];
    while (pending.length > 0) {
      options.signal?.throwIfAborted();
      const dir = pending.pop()!;
      const dirents: Dirent[] = await this.fs('list', dir, () =>
        fs.readdir(this.abs(dir), { withFileTypes: true }),
      );
      for (const d of dirents) {
        if (PARTIAL.test(d.name)) continue;
        const child = joinPath(dir, d.name.normalize('NFC'));
        let st: Stats;
        try {
          st = await fs.stat(this.abs(child));
        } catch {
          continue; // vanished between readdir and stat, or a dangling symlink
        }
        const entry = toEntry(child, st);
        yield entry;
        if (options.recursive && entry.type === 'dir') pending.push(child);
      }
    }
  }

  async read(path: StoragePath, options: ReadOptions = {}): Promise<Readable> {
    await this.guard(path);
    const abs = this.abs(path);
    const handle = await this.fs('read', path, () => fs.open(abs, 'r'));
    try {
      const st = await handle.stat();
      if (st.isDirectory()) throw new StorageError('IsADirectory', `is a folder: /${path}`, { path });
      const start = options.offset ?? 0;
      if (options.length === 0 || start >= st.size) {
        await handle.close();
        return emptyReadable();
      }
      const end = options.length === undefined ? undefined : start + options.length - 1;
      return createReadStream('', { fd: handle, start, end, signal: options.signal });
    } catch (err) {
      await handle.close().catch(() => {});
      throw err;
    }
  }

  async write(path: StoragePath, body: WriteBody, options: WriteOptions = {}): Promise<Entry> {
    await this.guard(path);
    const abs = this.abs(path);
    const dir = nodePath.dirname(abs);
    await this.fs('write', parentOf(path), () => fs.mkdir(dir, { recursive: true }));
    const existing = await fs.stat(abs).catch(() => undefined);
    if (existing?.isDirectory()) throw new StorageError('IsADirectory', `is a folder: /${path}`, { path });
    const partial = nodePath.join(
      dir,
      `.ferry-partial-${randomBytes(6).toString('hex')}-${baseName(path)}`.slice(0, 255),
    );
    try {
      await pipeline(bodyToReadable(body), createWriteStream(partial), { signal: options.signal });
      if (options.mtime) await fs.utimes(partial, options.mtime, options.mtime);
      await fs.rename(partial, abs);
    } catch (err) {
      await fs.rm(partial, { force: true });
      throw translate(err, path);
    }
    return this.stat(path);
  }

  async remove(path: StoragePath): Promise<void> {
    await this.guard(path);
    const st = await this.fs('remove', path, () => fs.lstat(this.abs(path)));
    if (st.isDirectory()) throw new StorageError('IsADirectory', `is a folder: /${path}`, { path });
    await this.fs('remove', path, () => fs.unlink(this.abs(path)));
  }

  async mkdir(path: StoragePath): Promise<void> {
    await this.guard(path);
    const abs = this.abs(path);
    if (await exists(abs)) throw new StorageError('AlreadyExists', `already exists: /${path}`, { path });
    await this.fs('mkdir', path, () => fs.mkdir(abs, { recursive: true }));
  }

  /** Partial files a killed write left (unfinished-writes.ts). */
  async abortUnfinishedWrites(path: StoragePath, options: AbortUnfinishedOptions): Promise<number> {
    await this.guard(path);
    return removePartialFiles(this.abs(path), path, options);
  }

  async rmdir(path: StoragePath): Promise<void> {
    await this.guard(path);
    await this.fs('rmdir', path, () => fs.rmdir(this.abs(path)));
  }

  async copy(from: StoragePath, to: StoragePath): Promise<Entry> {
    const st = await this.stat(from);
    if (st.type === 'dir') throw new StorageError('IsADirectory', `is a folder: /${from}`, { path: from });
    return this.write(to, await this.read(from), { size: st.size, mtime: st.mtime });
  }

  async rename(from: StoragePath, to: StoragePath): Promise<void> {
    await this.guard(from);
    await this.guard(to);
    const src = await this.stat(from);
    const dst = await fs.stat(this.abs(to)).catch(() => undefined);
    if (dst && (src.type === 'dir' || dst.isDirectory())) {
      throw new StorageError('AlreadyExists', `already exists: /${to}`, { path: to });
    }
    await this.fs('rename', parentOf(to), () =>
      fs.mkdir(nodePath.dirname(this.abs(to)), { recursive: true }),
    );
    await this.fs('rename', from, () => fs.rename(this.abs(from), this.abs(to)));
  }

  async setModTime(path: StoragePath, mtime: Date): Promise<void> {
    await this.guard(path);
    await this.fs('setModTime', path, () => fs.utimes(this.abs(path), mtime, mtime));
  }

  async removeTree(path: StoragePath): Promise<void> {
    await this.guard(path);
    const st = await this.stat(path);
    if (st.type !== 'dir') throw new StorageError('NotADirectory', `not a folder: /${path}`, { path });
    await this.fs('remove', path, () => fs.rm(this.abs(path), { recursive: true }));
  }

  /**
   * PermissionDenied when `path` (or, if it doesn't exist yet, its nearest existing ancestor)
   * resolves through a symlink to somewhere outside the root: the root is a chroot.
   */
  private async guard(path: StoragePath): Promise<void> {
    if (!this.confinedTo || path === '') return;
    const root = await this.confinedTo;
    for (let abs = this.abs(path); ; abs = nodePath.dirname(abs)) {
      let real: string;
      try {
        real = await fs.realpath(abs);
      } catch {
        if (abs === this.root) return;
        continue;
      }
      if (real === root || real.startsWith(`${root}${nodePath.sep}`)) return;
      throw new StorageError('PermissionDenied', `leads outside the root through a symlink: /${path}`, {
        path,
      });
    }
  }

  private abs(path: StoragePath): string {
    return path === '' ? this.root : nodePath.join(this.root, path);
  }

  /** Run a file-system call, translating its error into a StorageError about `path`. */
  private async fs<T>(_op: string, path: StoragePath, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw translate(err, path);
    }
  }
}

const codes: Record<string, StorageErrorCode> = {
  ENOENT: 'NotFound',
  EEXIST: 'AlreadyExists',
  ENOTEMPTY: 'NotEmpty',
  ENOTDIR: 'NotADirectory',
  EISDIR: 'IsADirectory',
  EACCES: 'PermissionDenied',
  EPERM: 'PermissionDenied',
  EROFS: 'PermissionDenied',
  ENAMETOOLONG: 'InvalidArgument',
  EINVAL: 'InvalidArgument',
  ENOSPC: 'QuotaExceeded',
  EDQUOT: 'QuotaExceeded',
  EBUSY: 'Conflict',
  EAGAIN: 'Transient',
  EMFILE: 'Transient',
  EIO: 'Transient',
};

const words: Record<StorageErrorCode, string> = {
  NotFound: 'no such file or folder',
  AlreadyExists: 'already exists',
  NotEmpty: 'folder not empty',
  NotADirectory: 'not a folder',
  IsADirectory: 'is a folder',
  PermissionDenied: 'permission denied',
  InvalidArgument: 'invalid name',
  NotSupported: 'not supported',
  Conflict: 'busy',
  QuotaExceeded: 'no space left',
  Transient: 'I/O error',
};

function translate(err: unknown, path: StoragePath): unknown {
  if (err instanceof StorageError) return err;
  const errno = (err as NodeJS.ErrnoException | undefined)?.code;
  if (errno === 'ABORT_ERR') return err;
  const code = (errno && codes[errno]) || 'Transient';
  return new StorageError(code, `${words[code]}: /${path}`, { path, cause: err });
}

function toEntry(path: StoragePath, st: Stats): Entry {
  const dir = st.isDirectory();
  return { path, name: baseName(path), type: dir ? 'dir' : 'file', size: dir ? 0 : st.size, mtime: st.mtime };
}

async function exists(abs: string): Promise<boolean> {
  return fs.lstat(abs).then(
    () => true,
    () => false,
  );
}

function emptyReadable(): Readable {
  return bodyToReadable(Buffer.alloc(0));
}
