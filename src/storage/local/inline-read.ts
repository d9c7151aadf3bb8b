import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { StorageError } from '../errors.js';
import type { StoragePath } from '../types.js';

/**
 * Whole reads of files up to this size may be made inline (LocalStorage `inlineSmallReads`): from
 * the page cache such a read is a few µs of blocking calls.
 */
export const INLINE_READ_MAX = 128 * 1024;

/**
 * The whole content of the regular file at `abs` when it holds at most `max` bytes, read with
 * blocking calls on this thread (open, fstat, read, close: no trip through libuv's thread pool);
 * undefined when it is bigger, not a regular file (a FIFO, a device), or grew past its size
 * while read: the caller then reads it the usual way. Opened O_NONBLOCK so that a FIFO cannot hold
 * the thread in open(). Throws the calls' errno errors, and IsADirectory for a folder.
 */
export function readWholeInline(abs: string, path: StoragePath, max: number): Buffer | undefined {
  const fd = openSync(abs, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const st = fstatSync(fd);
    if (st.isDirectory()) throw new StorageError('IsADirectory', `is a folder: /${path}`, { path });
    if (!st.isFile() || st.size > max) return undefined;
    // One byte of room past the size: the read that finds the end needs somewhere to look.
    const buffer = Buffer.allocUnsafe(st.size + 1);
    let at = 0;
    for (;;) {
      const n = readSync(fd, buffer, at, buffer.length - at, at);
      if (n === 0) return buffer.subarray(0, at);
      at += n;
      if (at === buffer.length) return undefined;
    }
  } finally {
    closeSync(fd);
  }
}

/** An inline read slower than this blocked the event loop noticeably. */
const SLOW_INLINE_MS = 2;
/** After this much time blocked in slow inline reads, a storage stops reading inline. */
const INLINE_BLOCK_MS = 50;

/**
 * A LocalStorage's inline reads of small files (LocalStorageOptions `inlineSmallReads`): on while
 * `enabled`. An inline read that blocked the event loop for more than SLOW_INLINE_MS (a cold disk,
 * a network file system) counts towards INLINE_BLOCK_MS; past that, they are off for good and
 * every file is read through the thread pool again.
 */
export class InlineReads {
  /** Milliseconds the event loop waited in slow inline reads. */
  private blockedMs = 0;

  constructor(public enabled: boolean) {}

  /**
   * A small file's whole content read inline (readWholeInline), or undefined (then read it the
   * usual way). `translate` turns errno errors into StorageErrors.
   */
  read(abs: string, path: StoragePath, translate: (err: unknown) => unknown): Buffer | undefined {
    const started = performance.now();
    try {
      return readWholeInline(abs, path, INLINE_READ_MAX);
    } catch (err) {
      throw translate(err);
    } finally {
      const ms = performance.now() - started;
      if (ms > SLOW_INLINE_MS) {
        this.blockedMs += ms;
        if (this.blockedMs > INLINE_BLOCK_MS) this.enabled = false;
      }
    }
  }
}
