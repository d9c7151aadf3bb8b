import { createWriteStream, type Stats } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as nodePath from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { bodyToReadable, checkedSource, wholeBody } from '../body.js';
import { StorageError } from '../errors.js';
import type { OpenWriteOptions, WriteHandle } from '../handles.js';
import { hashOf } from '../hash.js';
import { listPage } from '../list-page.js';
import { decodeSegment, encodeSegment } from '../names.js';
import { moveByCopy } from '../operations.js';
import { baseName, joinPath, parentOf } from '../paths.js';
import type { OpenReadOptions, ReadHandle } from '../read-handle.js';
import type {
  AbortUnfinishedOptions,
  Entry,
  HashAlgorithm,
  ListOptions,
  OpOptions,
  ReadOptions,
  SpaceInfo,
  Storage,
  StorageFeatures,
  StoragePath,
  WriteBody,
  WriteOptions,
} from '../types.js';
import { translateLocalError as translate } from './errors.js';
import { InlineReads } from './inline-read.js';
import { localSpace, openLocalRead, readLocalFile } from './local-read.js';
import { SMALL_WRITE, writeSmallFile } from './small-write.js';
import { unchangedCheck } from './source-check.js';
import { statsAhead } from './stats-ahead.js';
import { removePartialFiles } from './unfinished-writes.js';
import { openLocalWrite, PARTIAL_NAME as PARTIAL, partialName } from './write-handle.js';

export interface LocalStorageOptions {
  /**
   * Whole reads of files up to INLINE_READ_MAX (128 KiB) are made with blocking calls on the
   * calling thread — open, fstat, read, close: a few µs each from the page cache — instead of five
   * trips through libuv's thread pool, a ReadStream and a FileHandle (~150 µs of CPU per file on 2
   * shared cores; most of what reading costs in a sync of many small files). For a process whose
   * event loop has nothing else to do meanwhile (the CLI); a server leaves it off. Reads that turn
   * out slow (a cold disk, a network file system) switch it off for the rest of the run.
   */
  inlineSmallReads?: boolean;
}

/**
 * A folder on the local file system. Writes go to a hidden partial file in the target folder and
 * are renamed into place when complete, so a failed write leaves nothing behind.
 * Content type and user metadata are not kept (a plain folder has nowhere to put them).
 *
 * Names: a file name no path can express (NFD from macOS, control characters, beginning with `‛`)
 * is listed under its encoded name (names.ts) and opened byte-exactly by it; a name that is not
 * UTF-8 is an error, never skipped. Symlinks are followed, but never out of the root
 * (PermissionDenied) and never round a loop (a listing that would is an error naming the link).
 */
export class LocalStorage implements Storage {
  readonly description: string;
  readonly features: StorageFeatures = {
    listingMtimeIsClientMtime: true,
    keepsEmptyFolders: true,
    keepsMetadata: false,
    conditionalWrites: true,
    readHandleKeepsVersion: true,
    storedHashes: [],
    space: ['total', 'used', 'free'],
  };
  private readonly root: string;
  /** Folders made or found by small writes (small-write.ts); forgotten when this removes one. */
  private readonly folders = new Set<string>();

  /** The root's real path, when symlinks must not lead out of it (every root but `/`). */
  private readonly confinedTo: Promise<string> | undefined;

  /** Whole reads of small files inline (LocalStorageOptions); off once they block too long. */
  private readonly inline: InlineReads;

  constructor(root: string, options: LocalStorageOptions = {}) {
    this.inline = new InlineReads(options.inlineSmallReads === true);
    this.root = nodePath.resolve(root);
    this.description = this.root;
    this.confinedTo = this.root === '/' ? undefined : fs.realpath(this.root).catch(() => this.root);
  }

  async stat(path: StoragePath): Promise<Entry> {
    await this.guard(path);
    return toEntry(path, await this.fs('stat', path, () => fs.stat(this.abs(path))));
  }

  async *list(path: StoragePath, options: ListOptions = {}): AsyncIterable<Entry> {
    if (options.startAfter !== undefined || options.limit !== undefined) {
      // Paged: the whole listing sorted, then the page (list-page.ts).
      const all: Entry[] = [];
      for await (const e of this.list(path, { ...options, startAfter: undefined, limit: undefined }))
        all.push(e);
      yield* listPage(all, options);
      return;
    }
    await this.guard(path);
    const st = await this.fs('list', path, () => fs.stat(this.abs(path)));
    if (!st.isDirectory()) throw new StorageError('NotADirectory', `not a folder: /${path}`, { path });
    const root = await this.confinedTo;
    // Each folder still to read, with the dev:ino of the folders on the walk down to it: a folder
    // met again below itself (through `loop -> ..`) would make the walk endless.
    const pending: { dir: StoragePath; above: Set<string> }[] = [{ dir: path, above: new Set([devIno(st)]) }];
    while (pending.length > 0) {
      options.signal?.throwIfAborted();
      const { dir, above } = pending.pop()!;
      const dirents = await this.fs('list', dir, () =>
        fs.readdir(this.abs(dir), { withFileTypes: true, encoding: 'buffer' }),
      );
      const stats = statsAhead(dirents, (d) =>
        this.abs(joinPath(dir, encodeSegment(d.name.toString('utf8')))),
      );
      for (let i = 0; i < dirents.length; i++) {
        const d = dirents[i]!;
        const native = d.name.toString('utf8');
        if (PARTIAL.test(native)) continue;
        if (!Buffer.from(native, 'utf8').equals(d.name)) {
          throw new StorageError(
            'InvalidArgument',
            `file name is not UTF-8, Ferry cannot name it: /${joinPath(dir, JSON.stringify(native))}`,
            { path: dir },
          );
        }
        const child = joinPath(dir, encodeSegment(native));
        let st: Stats;
        try {
          st = await stats(i);
        } catch (err) {
          if (!d.isSymbolicLink()) continue; // vanished between readdir and stat
          // A dangling or looping link has nothing to show; a walk that must carry everything
          // (recursive: tree copies) says so rather than leave it out.
          if (!options.recursive) continue;
          throw new StorageError('NotFound', `a symlink that leads nowhere: /${child}`, {
            path: child,
            cause: err,
          });
        }
        if (d.isSymbolicLink() && root !== undefined) await this.checkInside(child, root);
        // A named pipe, socket or device: reading one waits for a writer (a tree copy hung for
        // ever on a pipe). A walk that must carry everything says which name it cannot.
        if (options.recursive && !st.isFile() && !st.isDirectory()) {
          throw new StorageError(
            'InvalidArgument',
            `not a regular file or folder (a pipe, socket or device), Ferry cannot copy it: /${child}`,
            { path: child },
          );
        }
        const entry = toEntry(child, st);
        if (options.recursive && entry.type === 'dir') {
          const id = devIno(st);
          if (above.has(id)) {
            throw new StorageError(
              'InvalidArgument',
              `a symlink loop: /${child} leads back to a folder above it`,
              {
                path: child,
              },
            );
          }
          pending.push({ dir: child, above: new Set([...above, id]) });
        }
        yield entry;
      }
    }
  }

  async read(path: StoragePath, options: ReadOptions = {}): Promise<Readable> {
    await this.guard(path);
    const abs = this.abs(path);
    const translateHere = (err: unknown) => translate(err, path);
    if (this.inline.enabled && options.offset === undefined && options.length === undefined) {
      options.signal?.throwIfAborted();
      const whole = this.inline.read(abs, path, translateHere);
      // Checked again before the copy commits (source-check.ts): the read is whole, but the
      // upload that follows it takes a while.
      if (whole) return checkedSource(wholeBody(whole.data), unchangedCheck(abs, path, whole.opened));
    }
    return readLocalFile(abs, path, options, translateHere);
  }

  async openRead(path: StoragePath, options: OpenReadOptions = {}): Promise<ReadHandle> {
    options.signal?.throwIfAborted();
    await this.guard(path);
    return openLocalRead(this.abs(path), path, (err) => translate(err, path));
  }

  async hash(path: StoragePath, algorithm: HashAlgorithm, options: OpOptions = {}): Promise<string> {
    const body = await this.read(path, { signal: options.signal });
    try {
      return await hashOf(body, algorithm);
    } catch (err) {
      throw translate(err, path);
    }
  }

  async about(): Promise<SpaceInfo> {
    return this.fs('about', '', () => localSpace(this.root));
  }

  async write(path: StoragePath, body: WriteBody, options: WriteOptions = {}): Promise<Entry> {
    const found = await this.guard(path);
    const abs = this.abs(path);
    if (options.size !== undefined && options.size <= SMALL_WRITE && !options.createOnly) {
      const mkdirsHere = (dir: string) => mkdirs(dir, parentOf(path));
      const translateHere = (e: unknown) => translate(e, path);
      const t = { abs, path, found, folders: this.folders, mkdirs: mkdirsHere, translate: translateHere };
      return { path, name: baseName(path), type: 'file', ...(await writeSmallFile(t, body, options)) };
    }
    const dir = nodePath.dirname(abs);
    await mkdirs(dir, parentOf(path));
    const existing = await fs.stat(abs).catch(() => undefined);
    if (existing?.isDirectory()) throw new StorageError('IsADirectory', `is a folder: /${path}`, { path });
    const partial = nodePath.join(dir, partialName(nodePath.basename(abs)));
    try {
      await pipeline(bodyToReadable(body), createWriteStream(partial), { signal: options.signal });
      if (options.mtime) await fs.utimes(partial, options.mtime, options.mtime);
      if (options.createOnly) {
        // A hard link fails when anything is there: never replaces (then the partial goes).
        await fs.link(partial, abs);
        await fs.rm(partial, { force: true });
      } else await fs.rename(partial, abs);
    } catch (err) {
      await fs.rm(partial, { force: true });
      throw translate(err, path);
    }
    return this.stat(path);
  }

  /** A write handle (write-handle.ts): a partial file in the same folder, renamed on close. */
  async openWrite(path: StoragePath, options: OpenWriteOptions = {}): Promise<WriteHandle> {
    await this.guard(path);
    const target = { abs: this.abs(path), path, translate: (err: unknown) => translate(err, path) };
    return openLocalWrite({ ...target, stat: () => this.stat(path) }, options);
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
    await mkdirs(abs, path);
  }

  /** Partial files a killed write left (unfinished-writes.ts). */
  async abortUnfinishedWrites(path: StoragePath, options: AbortUnfinishedOptions): Promise<number> {
    await this.guard(path);
    return removePartialFiles(this.abs(path), path, options);
  }

  async rmdir(path: StoragePath): Promise<void> {
    await this.guard(path);
    this.folders.clear();
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
    await mkdirs(nodePath.dirname(this.abs(to)), parentOf(to));
    this.folders.clear();
    try {
      await fs.rename(this.abs(from), this.abs(to));
    } catch (err) {
      // Another file system: copy, then delete each source file once its copy is complete.
      if ((err as NodeJS.ErrnoException).code === 'EXDEV') return moveByCopy(this, from, this, to);
      throw translate(err, from);
    }
  }

  async setModTime(path: StoragePath, mtime: Date): Promise<void> {
    await this.guard(path);
    await this.fs('setModTime', path, () => fs.utimes(this.abs(path), mtime, mtime));
  }

  async removeTree(path: StoragePath): Promise<void> {
    await this.guard(path);
    const st = await this.stat(path);
    if (st.type !== 'dir') throw new StorageError('NotADirectory', `not a folder: /${path}`, { path });
    this.folders.clear();
    await this.fs('remove', path, () => fs.rm(this.abs(path), { recursive: true }));
  }

  /**
   * PermissionDenied when `path` (or, if it doesn't exist yet, its nearest existing ancestor)
   * resolves through a symlink to somewhere outside the root: the root is a chroot. Returns
   * whether something was at `path` itself (undefined when not checked: the root `/`).
   */
  private async guard(path: StoragePath): Promise<boolean | undefined> {
    if (!this.confinedTo || path === '') return undefined;
    const root = await this.confinedTo;
    let found = true;
    for (let abs = this.abs(path); ; abs = nodePath.dirname(abs), found = false) {
      let real: string;
      try {
        real = await fs.realpath(abs);
      } catch {
        if (abs === this.root) return false;
        continue;
      }
      if (real === root || real.startsWith(`${root}${nodePath.sep}`)) return found;
      throw new StorageError('PermissionDenied', `leads outside the root through a symlink: /${path}`, {
        path,
      });
    }
  }

  /** PermissionDenied when the symlink at `path` resolves outside `root` (the root's real path). */
  private async checkInside(path: StoragePath, root: string): Promise<void> {
    const real = await fs.realpath(this.abs(path)).catch(() => undefined);
    if (real === undefined || real === root || real.startsWith(`${root}${nodePath.sep}`)) return;
    throw new StorageError('PermissionDenied', `a symlink leads outside the root: /${path}`, { path });
  }

  /**
   * The absolute native path of `path`: each segment decoded (names.ts). A segment that decodes
   * to a name no local folder can hold (empty, `.`, `..`, containing NUL) is InvalidArgument.
   */
  private abs(path: StoragePath): string {
    if (path === '') return this.root;
    const native = path.split('/').map((segment) => {
      const n = decodeSegment(segment);
      if (n === '' || n === '.' || n === '..' || n.includes('\u0000')) {
        throw new StorageError('InvalidArgument', `cannot be a local file name: /${path}`, { path });
      }
      return n;
    });
    return nodePath.join(this.root, ...native);
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

function toEntry(path: StoragePath, st: Stats): Entry {
  const dir = st.isDirectory();
  return { path, name: baseName(path), type: dir ? 'dir' : 'file', size: dir ? 0 : st.size, mtime: st.mtime };
}

function devIno(st: Stats): string {
  return `${st.dev}:${st.ino}`;
}

/**
 * `mkdir -p` of `abs` (the folder `path`). Its EEXIST means a file is in the way (an existing
 * folder is no error), so it becomes NotADirectory, as on the other backends.
 */
async function mkdirs(abs: string, path: StoragePath): Promise<void> {
  try {
    await fs.mkdir(abs, { recursive: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new StorageError('NotADirectory', `not a folder: /${path}`, { path, cause: err });
    }
    throw translate(err, path);
  }
}

async function exists(abs: string): Promise<boolean> {
  return fs.lstat(abs).then(
    () => true,
    () => false,
  );
}
