import { createHash, type Hash } from 'node:crypto';
import { pipeline, Transform, type TransformCallback } from 'node:stream';
import { forEachConcurrent } from '../util/concurrency.js';
import { checkedSource, sizeOf, sourceCheckOf } from './body.js';
import { StorageError } from './errors.js';
import { isWithin, joinPath, parentOf } from './paths.js';
import type { Entry, Storage, StoragePath, WriteOptions } from './types.js';

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
  ) => Promise<{ skip?: boolean; write?: WriteOptions } | undefined>;
}

export interface CopyFileOptions {
  /**
   * What the caller already knows of the source file. A complete entry (a stat's) saves the
   * source's stat; a `detail: 'listing'` entry lacks the client mtime, content type and metadata,
   * so the source is stat'ed anyway (one HEAD on S3) before its bytes are streamed.
   */
  known?: Entry;
  /**
   * `known` comes from a listing of the source (a sync, a tree copy): the read must find a regular
   * file there (ReadOptions `regularFile`), not a FIFO swapped in since.
   */
  listed?: boolean;
  signal?: AbortSignal;
  /** Called with each chunk's size as bytes are read from the source (for progress). */
  onBytes?: (bytes: number) => void;
  /**
   * Called at the end with the SHA-256 (hex) of the bytes read from the source. Forces the bytes
   * to be streamed (a server-side copy is then not taken).
   */
  onSourceHash?: (sha256: string) => void;
  /**
   * Write options laid over those taken from the source (size, mtime, content type, metadata).
   * A backend's own subtype passes its typed hints here (S3WriteOptions: resumeSource,
   * onUploaded); a backend ignores hints it does not know.
   */
  write?: WriteOptions;
}

/**
 * Copy one file, server-side when the destination can (same storage, or `copyFrom` the same
 * account). A streamed copy keeps mtime, content type and metadata (S3: `ferry-sha256` too),
 * taking them from a stat of the source unless `options.known` is already complete.
 */
export async function copyFile(
  src: Storage,
  from: StoragePath,
  dst: Storage,
  to: StoragePath,
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
  const { known, signal } = options;
  const entry = known && known.detail !== 'listing' ? known : await src.stat(from);
  if (entry.type === 'dir') throw new StorageError('IsADirectory', `is a folder: /${from}`, { path: from });
  const raw = await src.read(from, options.listed ? { signal, regularFile: true } : { signal });
  // A small file's progress is told once it is written: the source stream then reaches the
  // destination untouched (a local file is read straight into the upload buffer), without a
  // counting stream in between — most of the CPU of a small-file copy is such plumbing.
  const whole = options.onBytes !== undefined && !options.onSourceHash && entry.size <= SMALL_FILE;
  // pipeline: an error on either side destroys both (no dangling socket or file handle).
  const tapped =
    (options.onBytes && !whole) || options.onSourceHash ? pipeline(raw, new Tap(options), () => {}) : raw;
  // The source's "unchanged since opened" check (a local file) goes with its bytes to the writer.
  const check = sourceCheckOf(raw);
  const body = check && tapped !== raw ? checkedSource(tapped, check) : tapped;
  const done = await dst.write(to, body, {
    size: sizeOf(raw, entry.size),
    mtime: entry.mtime,
    contentType: entry.contentType,
    metadata: entry.metadata,
    signal,
    ...options.write,
  });
  if (whole) options.onBytes?.(done.size);
  return done;
}

/** Files up to this size report their progress in one piece, after the write (copyFile). */
const SMALL_FILE = 1024 * 1024;

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
 *
 * Never skips a name: every entry the source lists is copied, or the copy fails with an error
 * naming the entry it could not carry (e.g. a key `a//b` has no local file name), and then the
 * command exits non-zero. Files copied before the failure stay copied.
 */
export async function copyTree(
  src: Storage,
  from: StoragePath,
  dst: Storage,
  to: StoragePath,
  options: TreeOptions = {},
): Promise<number> {
  return copyEach(src, from, dst, to, options);
}

/**
 * The walk of copyTree. `afterCopy` runs for each file once its copy is complete, in the same
 * slot (a move deletes the source file there); `dirs` collects the source folders listed.
 */
async function copyEach(
  src: Storage,
  from: StoragePath,
  dst: Storage,
  to: StoragePath,
  options: TreeOptions,
  afterCopy?: (entry: Entry) => Promise<void>,
  dirs: StoragePath[] = [],
): Promise<number> {
  if (src === dst && isWithin(to, from)) {
    throw new StorageError('InvalidArgument', `cannot copy /${from} into itself (/${to})`, { path: from });
  }
  let files = 0;
  // Into a folder this call made, every file's parent is a folder: backends may skip checking
  // ancestors (S3: a HEAD per ancestor per file).
  const fresh = await ensureDir(dst, to);
  const write = fresh ? { parentIsFolder: true } : undefined;
  const rel = (p: StoragePath) => (from === '' ? p : p.slice(from.length + 1));
  // Folders are created only when nothing was copied into them: writes create parents anyway,
  // and on S3 every needless marker costs requests.
  const targets: StoragePath[] = [];
  const filled = new Set<StoragePath>();
  await forEachConcurrent(
    src.list(from, { recursive: true, signal: options.signal }),
    options.concurrency ?? 8,
    async (e) => {
      const target = joinPath(to, rel(e.path));
      if (e.type === 'dir') {
        dirs.push(e.path);
        targets.push(target);
        return;
      }
      options.signal?.throwIfAborted();
      const plan = await options.beforeFile?.(e, target);
      if (!plan?.skip) {
        await copyFile(src, e.path, dst, target, {
          known: e,
          listed: true,
          signal: options.signal,
          onBytes: options.onBytes,
          write: { ...write, ...plan?.write },
        });
      }
      for (let p = parentOf(target); p !== to && p !== '' && !filled.has(p); p = parentOf(p)) filled.add(p);
      await afterCopy?.(e);
      files++;
      options.onFile?.(e, target);
    },
  );
  for (const d of targets) if (!filled.has(d)) await ensureDir(dst, d);
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
  return moveByCopy(src, from, dst, to, options);
}

/**
 * Move by copying: each source file is deleted right after its own copy succeeded, then the
 * source folders the walk emptied, deepest first. A move deletes only what it copied: when a file
 * can't be carried the move fails naming it and that file (and every file not yet copied) stays
 * in the source. A folder that is not empty at the end (something appeared meanwhile) is kept,
 * and the move fails with NotEmpty. Never a blanket removeTree of the source.
 */
export async function moveByCopy(
  src: Storage,
  from: StoragePath,
  dst: Storage,
  to: StoragePath,
  options: TreeOptions = {},
): Promise<void> {
  const entry = await src.stat(from);
  if (entry.type === 'file') {
    await copyFile(src, from, dst, to, { known: entry, signal: options.signal, onBytes: options.onBytes });
    await src.remove(from);
    options.onFile?.(entry, to);
    return;
  }
  const dirs: StoragePath[] = [];
  await copyEach(src, from, dst, to, options, (e) => src.remove(e.path), dirs);
  for (const d of [...dirs.sort((a, b) => b.length - a.length), from]) {
    try {
      await src.rmdir(d);
    } catch (err) {
      // On S3 a folder without a marker is gone with its last file.
      if (!StorageError.is(err, 'NotFound')) throw err;
    }
  }
}

/** mkdir that accepts an existing folder (and fails on a file). True when it made the folder. */
export async function ensureDir(storage: Storage, path: StoragePath): Promise<boolean> {
  if (path === '') return false;
  try {
    await storage.mkdir(path);
    return true;
  } catch (err) {
    if (!StorageError.is(err, 'AlreadyExists')) throw err;
    if ((await storage.stat(path)).type !== 'dir') {
      throw new StorageError('NotADirectory', `not a folder: /${path}`, { path });
    }
    return false;
  }
}
