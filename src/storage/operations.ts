import { createHash, type Hash } from 'node:crypto';
import { pipeline, Transform, type TransformCallback } from 'node:stream';
import { forEachConcurrent } from '../util/concurrency.js';
import { StorageError } from './errors.js';
import { isWithin, joinPath, parentOf } from './paths.js';
import type { Entry, Storage, StoragePath } from './types.js';

/**
 * Whole-file and whole-tree operations over any two Storages, built on the contract alone and
 * taking a backend's fast path (server-side copy, rename, removeTree) when it has one. The CLI,
 * the protocol servers and sync all call these rather than re-implementing the walk.
 */

export interface TreeOptions {
  /** Files copied at once. */
  concurrency?: number;
  /** Called after each file is done (for progress and -v output). */
  onFile?: (entry: Entry, to: StoragePath) => void;
  /** Called with each chunk's size as bytes flow from source to destination (for progress). */
  onBytes?: (bytes: number) => void;
  signal?: AbortSignal;
  /**
   * Asked before each file of a tree copy: `skip` leaves it alone (a resumed copy skips files
   * already complete; they still count for `filled` folders and `onFile`), `write` adds write
   * options for it (e.g. the local source file, which makes an S3 upload resumable).
   */
  beforeFile?: (
    entry: Entry,
    to: StoragePath,
  ) => Promise<{ skip?: boolean; write?: Record<string, unknown> } | undefined>;
}

export interface CopyFileOptions {
  /** Called with each chunk's size as bytes are read from the source (for progress). */
  onBytes?: (bytes: number) => void;
  /** Called at the end with the SHA-256 (hex) of the bytes read from the source. */
  onSourceHash?: (sha256: string) => void;
  /** Extra, backend-specific write options (e.g. S3WriteOptions); other backends ignore them. */
  write?: Record<string, unknown>;
}

/**
 * Copy one file, server-side when source and destination are the same storage. Keeps mtime.
 * With `options.onSourceHash` the bytes are hashed as they stream (not possible for a
 * server-side copy, which is then not taken).
 */
export async function copyFile(
  src: Storage,
  from: StoragePath,
  dst: Storage,
  to: StoragePath,
  known?: Entry,
  signal?: AbortSignal,
  options: CopyFileOptions = {},
): Promise<Entry> {
  if (src === dst && dst.copy && !options.onSourceHash) {
    const done = await dst.copy(from, to);
    options.onBytes?.(done.size);
    return done;
  }
  if (dst.copyFrom && !options.onSourceHash) {
    const copied = await dst.copyFrom(src, from, to);
    if (copied) {
      options.onBytes?.(copied.size);
      return copied;
    }
  }
  const entry = known ?? (await src.stat(from));
  if (entry.type === 'dir') throw new StorageError('IsADirectory', `is a folder: /${from}`, { path: from });
  const raw = await src.read(from, { signal });
  // pipeline: an error on either side destroys both (no dangling socket or file handle).
  const body = options.onBytes || options.onSourceHash ? pipeline(raw, new Tap(options), () => {}) : raw;
  const written = await dst.write(to, body, {
    size: entry.size,
    mtime: entry.mtime,
    contentType: entry.contentType,
    metadata: entry.metadata,
    signal,
    ...options.write,
  });
  return written;
}

/** Counts (and optionally hashes) the bytes passing through. */
class Tap extends Transform {
  private readonly hash: Hash | undefined;

  constructor(private readonly options: CopyFileOptions) {
    super();
    this.hash = options.onSourceHash ? createHash('sha256') : undefined;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash?.update(chunk);
    this.options.onBytes?.(chunk.length);
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    if (this.hash) this.options.onSourceHash?.(this.hash.digest('hex'));
    cb();
  }
}

/**
 * Copy the folder `from` to `to` (created if missing), files `concurrency` at a time as the
 * listing streams in. Empty folders are recreated. Returns the number of files copied.
 */
export async function copyTree(
  src: Storage,
  from: StoragePath,
  dst: Storage,
  to: StoragePath,
  options: TreeOptions = {},
): Promise<number> {
  if (src === dst && isWithin(to, from)) {
    throw new StorageError('InvalidArgument', `cannot copy /${from} into itself (/${to})`, { path: from });
  }
  let files = 0;
  await ensureDir(dst, to);
  const rel = (p: StoragePath) => (from === '' ? p : p.slice(from.length + 1));
  // Folders are created only when nothing was copied into them: writes create parents anyway,
  // and on S3 every needless marker costs requests.
  const dirs: StoragePath[] = [];
  const filled = new Set<StoragePath>();
  await forEachConcurrent(
    src.list(from, { recursive: true, signal: options.signal }),
    options.concurrency ?? 8,
    async (e) => {
      const target = joinPath(to, rel(e.path));
      if (e.type === 'dir') {
        dirs.push(target);
        return;
      }
      options.signal?.throwIfAborted();
      const plan = await options.beforeFile?.(e, target);
      if (!plan?.skip) {
        await copyFile(src, e.path, dst, target, e, options.signal, {
          onBytes: options.onBytes,
          write: plan?.write,
        });
      }
      for (let p = parentOf(target); p !== to && p !== '' && !filled.has(p); p = parentOf(p)) filled.add(p);
      files++;
      options.onFile?.(e, target);
    },
  );
  for (const d of dirs) if (!filled.has(d)) await ensureDir(dst, d);
  return files;
}

/** Remove a folder and everything below it, with the backend's fast path when it has one. */
export async function removeTree(
  storage: Storage,
  path: StoragePath,
  options: TreeOptions = {},
): Promise<void> {
  if (storage.removeTree) return storage.removeTree(path);
  const dirs: StoragePath[] = [];
  await forEachConcurrent(storage.list(path, { recursive: true }), options.concurrency ?? 8, async (e) => {
    if (e.type === 'dir') dirs.push(e.path);
    else await storage.remove(e.path);
  });
  // Deepest first.
  for (const d of dirs.sort((a, b) => b.length - a.length)) await storage.rmdir(d);
  await storage.rmdir(path);
}

/** Move a file or folder between (or within) storages: rename when possible, else copy + remove. */
export async function move(
  src: Storage,
  from: StoragePath,
  dst: Storage,
  to: StoragePath,
  options: TreeOptions = {},
): Promise<void> {
  if (src === dst && dst.rename) return dst.rename(from, to);
  const entry = await src.stat(from);
  if (entry.type === 'file') {
    await copyFile(src, from, dst, to, entry, options.signal, { onBytes: options.onBytes });
    await src.remove(from);
    return;
  }
  await copyTree(src, from, dst, to, options);
  await removeTree(src, from, options);
}

/** mkdir that accepts an existing folder (and fails on a file). */
export async function ensureDir(storage: Storage, path: StoragePath): Promise<void> {
  if (path === '') return;
  try {
    await storage.mkdir(path);
  } catch (err) {
    if (!StorageError.is(err, 'AlreadyExists')) throw err;
    if ((await storage.stat(path)).type !== 'dir') {
      throw new StorageError('NotADirectory', `not a folder: /${path}`, { path });
    }
  }
}
