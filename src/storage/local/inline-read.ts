import { type BigIntStats, closeSync, constants, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { StorageError } from '../errors.js';
import type { StoragePath } from '../types.js';

/** A small file read whole, and what it was when opened (for source-check.ts). */
export interface WholeFile {
  data: Buffer;
  opened: BigIntStats;
}

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
export function readWholeInline(abs: string, path: StoragePath, max: number): WholeFile | undefined {
  // Not even opened unless a regular file: opening a FIFO (and closing it at once) would let its
  // writer, waiting in open(), go on — to EPIPE, its bytes lost, and the usual read then waiting
  // for a writer that is gone (`ferry cp fifo s3://…` hung or stored part of the bytes).
  const before = statSync(abs);
  if (before.isDirectory()) throw new StorageError('IsADirectory', `is a folder: /${path}`, { path });
  if (!before.isFile() || before.size > max) return undefined;
  const fd = openSync(abs, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const opened = fstatSync(fd, { bigint: true });
    if (opened.isDirectory()) throw new StorageError('IsADirectory', `is a folder: /${path}`, { path });
    const size = Number(opened.size);
    if (!opened.isFile() || size > max) return undefined;
    // One byte of room past the size: the read that finds the end needs somewhere to look.
    const buffer = Buffer.allocUnsafe(size + 1);
    let at = 0;
    for (;;) {
      const n = readSync(fd, buffer, at, buffer.length - at, at);
      if (n === 0) return { data: buffer.subarray(0, at), opened };
      at += n;
      if (at === buffer.length) return undefined;
    }
  } finally {
    closeSync(fd);
  }
}

/** An inline read slower than this blocked the event loop noticeably. */
export const SLOW_INLINE_MS = 2;
/** After this much time blocked in slow inline reads, a storage may stop reading inline… */
export const INLINE_BLOCK_MS = 50;
/** …when they also cost more than this per inline read on average. */
export const INLINE_BLOCK_PER_READ_MS = 0.25;

/**
 * Whether a LocalStorage still reads small files inline: `record` is told the wall time of each
 * inline read; reads slower than SLOW_INLINE_MS count, and past INLINE_BLOCK_MS of them, when
 * they are also more than INLINE_BLOCK_PER_READ_MS per inline read made, the storage reads every
 * file through the thread pool again (a cold disk, a network file system: most reads slow).
 * A wall time also counts the time the process was descheduled mid-read: on loaded cores ~1
 * read in 200 of cached files takes 2–10 ms, which a budget for the whole run would add up until
 * it turned inline reads off half-way through a big sync (the thread pool's reads are
 * descheduled just the same).
 */
export class InlineReadGate {
  /** Inline reads made so far. */
  reads = 0;
  /** Milliseconds spent in slow inline reads. */
  blockedMs = 0;
  constructor(public on: boolean) {}

  record(ms: number): void {
    this.reads++;
    if (ms <= SLOW_INLINE_MS) return;
    this.blockedMs += ms;
    if (this.blockedMs > INLINE_BLOCK_MS && this.blockedMs > this.reads * INLINE_BLOCK_PER_READ_MS)
      this.on = false;
  }
}

/**
 * A LocalStorage's inline reads of small files (LocalStorageOptions `inlineSmallReads`): on while
 * the gate (InlineReadGate) says so; each read's time is told to it.
 */
export class InlineReads {
  private readonly gate: InlineReadGate;

  constructor(enabled: boolean) {
    this.gate = new InlineReadGate(enabled);
  }

  get enabled(): boolean {
    return this.gate.on;
  }

  /**
   * A small file's whole content read inline (readWholeInline), or undefined (then read it the
   * usual way). `translate` turns errno errors into StorageErrors.
   */
  read(abs: string, path: StoragePath, translate: (err: unknown) => unknown): WholeFile | undefined {
    const started = performance.now();
    try {
      return readWholeInline(abs, path, INLINE_READ_MAX);
    } catch (err) {
      throw translate(err);
    } finally {
      this.gate.record(performance.now() - started);
    }
  }
}
