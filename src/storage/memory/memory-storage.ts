import { Readable } from 'node:stream';
import { bodyToBuffer } from '../body.js';
import { notFound, StorageError } from '../errors.js';
import type { OpenWriteOptions, WriteAttributes, WriteHandle } from '../handles.js';
import { hashOf } from '../hash.js';
import { listPage } from '../list-page.js';
import { baseName, isWithin, parentOf } from '../paths.js';
import { checkReadArgs, closedHandle, type ReadHandle, streamFromHandle } from '../read-handle.js';
import type {
  Entry,
  HashAlgorithm,
  ListOptions,
  ReadOptions,
  SpaceInfo,
  Storage,
  StorageFeatures,
  StoragePath,
  WriteBody,
  WriteOptions,
} from '../types.js';
import { MemoryWriteHandle } from './write-handle.js';

interface MemoryFile {
  data: Buffer;
  mtime: Date;
  contentType: string | undefined;
  metadata: Record<string, string>;
}

/**
 * A Storage kept in memory: the reference implementation of the contract and the double for
 * unit tests of the layers above. Folders are explicit (like a real file system).
 */
export class MemoryStorage implements Storage {
  readonly description = 'memory:';
  readonly features: StorageFeatures = {
    listingMtimeIsClientMtime: true,
    keepsEmptyFolders: true,
    keepsMetadata: true,
    conditionalWrites: true,
    readHandleKeepsVersion: true,
    storedHashes: [],
    space: ['used'],
  };
  private readonly files = new Map<StoragePath, MemoryFile>();
  private readonly dirs = new Map<StoragePath, Date>([['', new Date()]]);

  async stat(path: StoragePath): Promise<Entry> {
    const file = this.files.get(path);
    if (file) return fileEntry(path, file);
    const dirTime = this.dirs.get(path);
    if (dirTime) return dirEntry(path, dirTime);
    throw notFound(path);
  }

  async *list(path: StoragePath, options: ListOptions = {}): AsyncIterable<Entry> {
    if (this.files.has(path)) throw new StorageError('NotADirectory', `not a folder: /${path}`, { path });
    if (!this.dirs.has(path)) throw notFound(path);
    const wanted = (p: StoragePath) =>
      p !== path && isWithin(p, path) && (options.recursive || parentOf(p) === path);
    // Snapshot first so callers may modify the tree while iterating.
    const entries: Entry[] = [];
    for (const [p, t] of this.dirs) if (wanted(p)) entries.push(dirEntry(p, t));
    for (const [p, f] of this.files) if (wanted(p)) entries.push(fileEntry(p, f));
    yield* listPage(entries, options);
  }

  /** A handle on the buffer there now: a later write replaces the buffer, not its bytes. */
  async openRead(path: StoragePath): Promise<ReadHandle> {
    const file = this.files.get(path);
    if (!file) throw this.dirs.has(path) ? isDir(path) : notFound(path);
    const data = file.data;
    let closed = false;
    const handle: ReadHandle = {
      entry: fileEntry(path, file),
      read: async (offset, length) => {
        checkReadArgs(offset, length);
        if (closed) throw closedHandle(path);
        return Buffer.from(
          data.subarray(Math.min(offset, data.length), Math.min(offset + length, data.length)),
        );
      },
      stream: (offset, length, options) => streamFromHandle(handle, offset, length, options),
      close: async () => {
        closed = true;
      },
    };
    return handle;
  }

  async hash(path: StoragePath, algorithm: HashAlgorithm): Promise<string> {
    const file = this.files.get(path);
    if (!file) throw this.dirs.has(path) ? isDir(path) : notFound(path);
    return hashOf(file.data, algorithm);
  }

  async about(): Promise<SpaceInfo> {
    let used = 0;
    for (const f of this.files.values()) used += f.data.length;
    return { used };
  }

  async read(path: StoragePath, options: ReadOptions = {}): Promise<Readable> {
    const file = this.files.get(path);
    if (!file) throw this.dirs.has(path) ? isDir(path) : notFound(path);
    const start = Math.min(options.offset ?? 0, file.data.length);
    const end =
      options.length === undefined ? file.data.length : Math.min(start + options.length, file.data.length);
    return Readable.from([file.data.subarray(start, end)]);
  }

  async write(path: StoragePath, body: WriteBody, options: WriteOptions = {}): Promise<Entry> {
    if (this.dirs.has(path)) throw isDir(path);
    const data = await bodyToBuffer(body);
    if (options.createOnly && this.files.has(path))
      throw new StorageError('AlreadyExists', `already exists: /${path}`, { path });
    this.ensureParents(path);
    const file: MemoryFile = {
      data,
      mtime: options.mtime ?? new Date(),
      contentType: options.contentType,
      metadata: { ...options.metadata },
    };
    this.files.set(path, file);
    return fileEntry(path, file);
  }

  async openWrite(path: StoragePath, options: OpenWriteOptions = {}): Promise<WriteHandle> {
    return new MemoryWriteHandle(
      {
        existing: (p) => {
          if (this.dirs.has(p)) throw isDir(p);
          return this.files.get(p)?.data;
        },
        entry: (p) => {
          const file = this.files.get(p);
          return file && fileEntry(p, file);
        },
        commit: (p, data, attrs: WriteAttributes, exclusive) => {
          if (this.dirs.has(p)) throw isDir(p);
          if (exclusive && this.files.has(p)) {
            throw new StorageError('AlreadyExists', `already exists: /${p}`, { path: p });
          }
          this.ensureParents(p);
          const file: MemoryFile = {
            data,
            mtime: attrs.mtime ?? new Date(),
            contentType: attrs.contentType,
            metadata: { ...attrs.metadata },
          };
          this.files.set(p, file);
          return fileEntry(p, file);
        },
      },
      path,
      options,
    );
  }

  async remove(path: StoragePath): Promise<void> {
    if (this.dirs.has(path)) throw isDir(path);
    if (!this.files.delete(path)) throw notFound(path);
  }

  async mkdir(path: StoragePath): Promise<void> {
    if (this.files.has(path) || this.dirs.has(path)) {
      throw new StorageError('AlreadyExists', `already exists: /${path}`, { path });
    }
    this.ensureParents(path);
    this.dirs.set(path, new Date());
  }

  async rmdir(path: StoragePath): Promise<void> {
    if (this.files.has(path)) throw new StorageError('NotADirectory', `not a folder: /${path}`, { path });
    if (!this.dirs.has(path)) throw notFound(path);
    for (const p of [...this.dirs.keys(), ...this.files.keys()]) {
      if (p !== path && isWithin(p, path))
        throw new StorageError('NotEmpty', `folder not empty: /${path}`, { path });
    }
    this.dirs.delete(path);
  }

  async copy(from: StoragePath, to: StoragePath): Promise<Entry> {
    const file = this.files.get(from);
    if (!file) throw this.dirs.has(from) ? isDir(from) : notFound(from);
    return this.write(to, Buffer.from(file.data), {
      contentType: file.contentType,
      metadata: file.metadata,
      mtime: file.mtime,
    });
  }

  async rename(from: StoragePath, to: StoragePath): Promise<void> {
    const file = this.files.get(from);
    if (file) {
      if (this.dirs.has(to))
        throw new StorageError('AlreadyExists', `a folder is in the way: /${to}`, { path: to });
      this.ensureParents(to);
      this.files.set(to, file);
      this.files.delete(from);
      return;
    }
    if (!this.dirs.has(from)) throw notFound(from);
    if (this.dirs.has(to) || this.files.has(to)) {
      throw new StorageError('AlreadyExists', `already exists: /${to}`, { path: to });
    }
    this.ensureParents(to);
    const moved = (p: StoragePath) => to + p.slice(from.length);
    for (const map of [this.dirs, this.files] as Map<StoragePath, unknown>[]) {
      for (const [p, v] of [...map]) {
        if (!isWithin(p, from)) continue;
        map.delete(p);
        map.set(moved(p), v);
      }
    }
  }

  async setModTime(path: StoragePath, mtime: Date): Promise<void> {
    const file = this.files.get(path);
    if (file) file.mtime = mtime;
    else if (this.dirs.has(path)) this.dirs.set(path, mtime);
    else throw notFound(path);
  }

  /** Create the missing parents of `path`; NotADirectory (and nothing created) if one is a file. */
  private ensureParents(path: StoragePath): void {
    const missing: StoragePath[] = [];
    for (let p = parentOf(path); p !== ''; p = parentOf(p)) {
      if (this.files.has(p)) throw new StorageError('NotADirectory', `not a folder: /${p}`, { path: p });
      if (!this.dirs.has(p)) missing.push(p);
    }
    for (const p of missing) this.dirs.set(p, new Date());
  }
}

function isDir(path: StoragePath): StorageError {
  return new StorageError('IsADirectory', `is a folder: /${path}`, { path });
}

function fileEntry(path: StoragePath, f: MemoryFile): Entry {
  return {
    path,
    name: baseName(path),
    type: 'file',
    size: f.data.length,
    mtime: f.mtime,
    contentType: f.contentType,
    metadata: { ...f.metadata },
  };
}

function dirEntry(path: StoragePath, mtime: Date): Entry {
  return { path, name: baseName(path), type: 'dir', size: 0, mtime };
}
