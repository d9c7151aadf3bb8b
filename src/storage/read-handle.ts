import { Readable } from 'node:stream';
import { StorageError } from './errors.js';
import type { Entry } from './types.js';

/**
 * A file opened for reading, as the protocol servers need it: SFTP READ (many small pipelined
 * reads, sometimes out of order), FTP REST + RETR (a stream from an offset), HTTP Range (any
 * range, any number of times). Open once, read any range any number of times in any order,
 * concurrently, then `close()`.
 *
 * Contract every backend keeps (test/conformance/read-handle-contract.ts):
 * - `entry` describes the version that was opened (size, mtime, content type, metadata, etag
 *   when the backend has them) and every read returns bytes of that version only. When the file
 *   is replaced while open, a backend either keeps reading the opened version (local: an open
 *   file descriptor; memory: the opened buffer) or fails the read with `Conflict` (S3: every
 *   ranged GET carries If-Match) — never new or mixed bytes. `features.readHandleKeepsVersion`
 *   says which.
 * - `read(offset, length)` resolves to `length` bytes, fewer only when the end of the file comes
 *   first, and an empty buffer at or past the end. The returned buffer belongs to the caller.
 * - After `close()` (idempotent) every read fails with InvalidArgument; reads in flight are
 *   aborted. Memory held for read-ahead is given back.
 * - Errors are StorageErrors (Conflict when the opened version is gone, Transient for network
 *   trouble that outlasted the retries).
 */
export interface ReadHandle {
  readonly entry: Entry;
  read(offset: number, length: number, options?: { signal?: AbortSignal }): Promise<Buffer>;
  /**
   * Optional, for a caller that uses the bytes at once and lets go (SFTP READ copying them into
   * its reply): as `read`, but the bytes may be a view of the handle's own buffer instead of a
   * copy. The handle keeps that memory unchanged and unreused until `release()` (call it exactly
   * once; later calls do nothing). `lendBytes` falls back to `read` for handles without it.
   */
  lend?(offset: number, length: number, options?: { signal?: AbortSignal }): Promise<LentBytes>;
  /**
   * The bytes from `offset` (default 0), `length` of them (default: to the end), as a stream
   * (FTP RETR after REST, an HTTP Range body). Several streams may be open at once.
   */
  stream(offset?: number, length?: number, options?: { signal?: AbortSignal }): Readable;
  close(): Promise<void>;
}

/** Bytes lent by `ReadHandle.lend`: valid until `release()`. */
export interface LentBytes {
  readonly bytes: Buffer;
  release(): void;
}

const keep = () => {};

/** `handle.lend` when it has one, else `read` (whose bytes are the caller's: release does nothing). */
export async function lendBytes(
  handle: Pick<ReadHandle, 'read' | 'lend'>,
  offset: number,
  length: number,
  options?: { signal?: AbortSignal },
): Promise<LentBytes> {
  if (handle.lend) return handle.lend(offset, length, options);
  return { bytes: await handle.read(offset, length, options), release: keep };
}

export interface OpenReadOptions {
  /** Aborts the open and, later, every read of the handle still in flight. */
  signal?: AbortSignal;
}

/** Bytes a handle's `stream` asks for at once. */
const STREAM_CHUNK = 1024 * 1024;

/** Check a read's arguments (the same rule as `Storage.read`'s offset and length). */
export function checkReadArgs(offset: number, length: number): void {
  for (const [name, v] of [
    ['offset', offset],
    ['length', length],
  ] as const) {
    if (!Number.isSafeInteger(v) || v < 0) {
      throw new StorageError('InvalidArgument', `${name} must be a non-negative integer, got ${v}`);
    }
  }
}

export function closedHandle(path: string): StorageError {
  return new StorageError('InvalidArgument', `read handle already closed: /${path}`, { path });
}

/**
 * A range of a handle as a stream, built on `read` in 1 MiB steps (so a backend's sequential
 * read-ahead serves it). Pulled only as fast as the consumer reads.
 */
export function streamFromHandle(
  handle: Pick<ReadHandle, 'read' | 'entry'>,
  offset = 0,
  length?: number,
  options: { signal?: AbortSignal } = {},
): Readable {
  checkReadArgs(offset, length ?? 0);
  const end = Math.min(handle.entry.size, length === undefined ? handle.entry.size : offset + length);
  async function* chunks(): AsyncGenerator<Buffer> {
    for (let at = offset; at < end; ) {
      options.signal?.throwIfAborted();
      const chunk = await handle.read(at, Math.min(STREAM_CHUNK, end - at), options);
      if (chunk.length === 0) return; // the file was shorter than it said (a kept version never is)
      at += chunk.length;
      yield chunk;
    }
  }
  return Readable.from(chunks(), { objectMode: false, highWaterMark: STREAM_CHUNK });
}
