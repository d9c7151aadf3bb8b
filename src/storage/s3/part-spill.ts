import type * as fs from 'node:fs/promises';
import type { SpillOffer } from '../../s3/budget-asks.js';
import type { BufferBudget } from '../../s3/buffer-budget.js';
import type { PartBuffer, PartBuffers } from '../../s3/part-buffers.js';
import { StorageError } from '../errors.js';
import { openNamelessFile, spillDir } from './nameless-file.js';
import type { PendingWrites } from './pending-writes.js';

/**
 * A handle with no call for this long gives its part being filled back to the budget while a
 * reservation waits (`PartSpiller.offer`): 1000 ms, or `FERRY_PART_SPILL_MS` (a whole number of
 * milliseconds; 0: at once). Short enough that a client waiting on another file is not held up for
 * long; long enough that a handle still being written (WRITEs come every few ms) keeps its part.
 * Anything else is refused, naming the variable: `ferry serve` checks it at start
 * (server/spill-dir.ts), other commands at their first write (it used to take 0 for 1000 and a
 * negative value for "at once").
 */
export function partSpillAfterMs(env: NodeJS.ProcessEnv): number {
  const value = env.FERRY_PART_SPILL_MS;
  if (value === undefined || value === '') return 1000;
  const ms = /^\d{1,9}$/.test(value.trim()) ? Number(value.trim()) : Number.NaN;
  if (Number.isNaN(ms)) {
    throw new StorageError(
      'InvalidArgument',
      `FERRY_PART_SPILL_MS=${value} is not a whole number of milliseconds (0 or more); unset it for 1000`,
    );
  }
  return ms;
}
let spillAfterMs: number | undefined;

/** `partSpillAfterMs` of this process (read once; throws while the variable is bad). */
export function spillAfter(): number {
  spillAfterMs ??= partSpillAfterMs(process.env);
  return spillAfterMs;
}

/** What an S3 write handle lends its PartSpiller (write-handle.ts). */
export interface SpillingHandle {
  /** Milliseconds since the handle's last call ended; -1 while a call is queued or running. */
  idleMs(): number;
  /** The part being filled, and how many of its bytes are filled. */
  part(): { cur: PartBuffer; filled: number } | undefined;
  /** The part was spilled (and its reservation released): the handle has none now. */
  dropPart(): void;
  /** Run `fn` in the handle's call queue between calls (BaseWriteHandle `between`). */
  between(fn: () => Promise<void>): void;
}

/**
 * One write handle's side of the part spill: registered with the budget (`spillable`), it gives
 * back what only this handle's client could free while a reservation waits. A kept spare buffer
 * goes at once; the part being filled once no call came for `partSpillAfterMs` — spilled to disk
 * (PartSpill: why) and read back at the next call (`restore`). Its running hash stays with the
 * handle: the bytes come back as they were.
 */
export class PartSpiller {
  /** The handle's part given up to the budget: its filled bytes, on disk until the next call. */
  private spilled: PartSpill | undefined;
  /** Settles the offer being spilled (also when the handle ends before it ran). */
  private settle: (() => void) | undefined;
  /** The spill failed: what this handle could not give back is held until its next call. */
  private stuck: (() => void) | undefined;
  /** The handle ended (an abort may come while a spill runs: nothing is marked stuck after it). */
  private finished = false;
  private readonly unregister: () => void;

  constructor(
    private readonly budget: BufferBudget,
    private readonly buffers: PartBuffers,
    private readonly pending: PendingWrites,
    private readonly handle: SpillingHandle,
  ) {
    this.unregister = budget.spillable(() => this.offer());
  }

  /**
   * A reservation waits for budget (asked by the budget, only while more is lacking than is being
   * spilled): give back what this handle can; the bytes it is spilling, if any. A handle whose
   * spill failed is not asked again before its next call.
   */
  private offer(): SpillOffer | undefined {
    this.buffers.releaseSpare();
    const holds = () => this.handle.part() !== undefined || this.pending.memoryBytes > 0;
    const idle = this.handle.idleMs();
    if (idle < 0 || !holds() || this.settle !== undefined || this.stuck !== undefined) return undefined;
    if (idle < spillAfter()) return undefined;
    const bytes = (this.handle.part()?.cur.capacity ?? 0) + this.pending.memoryBytes;
    const done = new Promise<void>((resolve) => {
      this.settle = () => {
        this.settle = undefined;
        resolve();
      };
    });
    this.handle.between(async () => {
      try {
        if (this.handle.idleMs() < 0 || !holds() || !this.budget.waiting) return;
        let failed: unknown;
        // Writes ahead of a gap only the client can fill: to their spill file as well.
        await this.pending.spillMemory().catch((err) => {
          failed = err;
        });
        const part = this.handle.part();
        if (part !== undefined) {
          try {
            this.spilled = await PartSpill.write(part.cur.buffer, part.filled, part.cur.capacity);
            this.handle.dropPart();
            part.cur.release();
          } catch (err) {
            failed = err;
          }
        }
        // Not given back (the disk is full…): held until the client's next call, and a
        // reservation that cannot fit beside it is refused rather than left waiting.
        const kept = (this.handle.part()?.cur.capacity ?? 0) + this.pending.memoryBytes;
        if (failed !== undefined && kept > 0 && !this.finished) {
          const why = new Error(`the spill to ${spillDir()} failed: ${(failed as Error).message}`);
          this.stuck = this.budget.unspillable(kept, why);
        }
      } finally {
        this.settle?.();
      }
    });
    return { bytes, done };
  }

  /** The part spilled by `offer`, back in a part buffer (waits for budget, holding nothing). */
  async restore(): Promise<PartBuffer | undefined> {
    this.stuck?.();
    this.stuck = undefined;
    const spill = this.spilled;
    if (spill === undefined) return undefined;
    const part = await this.buffers.take(spill.capacity, spill.size);
    try {
      await spill.readInto(part.buffer);
    } catch (err) {
      part.release();
      throw err;
    }
    this.spilled = undefined;
    await spill.close();
    return part;
  }

  /** The handle was aborted: free the spill file (after the handle's queue settled). */
  async close(): Promise<void> {
    await this.spilled?.close();
    this.spilled = undefined;
  }

  /** The handle was closed or aborted: no longer asked. */
  finish(): void {
    this.finished = true;
    this.unregister();
    this.settle?.(); // `between` runs nothing once the handle ended
    this.stuck?.();
    this.stuck = undefined;
  }
}

/**
 * The part an S3 write handle was filling, moved out of memory to give its budget reservation
 * back (`PartSpiller.offer`), and read back into a new part buffer at the handle's next
 * call.
 *
 * Why: a part buffer is held from its first byte until the part is full (or the file closed), and
 * only the client's next bytes fill it. A client that wrote part of file B, then writes file A and
 * waits for A's replies before writing B again, had A's WRITEs wait for budget that B's part held
 * — and B's part waited for the client: both stuck until the idle timeout (hold-and-wait across
 * handles; docs/notes/issue-9.md "Session 6: review of the SFTP memory path", item 3, and
 * "Session 7: open items"). A part given up this way costs a write and a read of at most one part
 * on local disk, and only when a reservation waits while the handle has had no call for a while.
 *
 * The file is in `FERRY_SPILL_DIR` (default the OS temp folder, as PendingWrites' spill files and
 * StageFile), created and unlinked at once: nothing is left even after a crash; `close` frees it.
 */
export class PartSpill {
  private constructor(
    private readonly file: fs.FileHandle,
    /** Bytes spilled (the part's `filled`). */
    readonly length: number,
    /** The part's reservation and its buffer's size, to take the same again. */
    readonly capacity: number,
    readonly size: number,
  ) {}

  /** Write `buffer`'s first `length` bytes to a new nameless file. */
  static async write(buffer: Buffer, length: number, capacity: number, dir = spillDir()): Promise<PartSpill> {
    const file = await openNamelessFile('ferry-part', dir);
    partSpills.open++;
    const spill = new PartSpill(file, length, capacity, buffer.length);
    try {
      for (let at = 0; at < length; ) at += (await file.write(buffer, at, length - at, at)).bytesWritten;
    } catch (err) {
      await spill.close();
      throw err;
    }
    partSpills.spilled++;
    return spill;
  }

  /** Read the spilled bytes back into the start of `buffer` (at least `length` bytes long). */
  async readInto(buffer: Buffer): Promise<void> {
    for (let at = 0; at < this.length; ) {
      const { bytesRead } = await this.file.read(buffer, at, this.length - at, at);
      if (bytesRead === 0) throw new Error('part spill file shorter than what was written to it');
      at += bytesRead;
    }
    partSpills.restored++;
  }

  /** Free the file (idempotent, never throws). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    partSpills.open--;
    await this.file.close().catch(() => {});
  }

  private closed = false;
}

/** Parts spilled and read back, and spill files open now (process-wide; for tests and benchmarks). */
export const partSpills = { spilled: 0, restored: 0, open: 0 };
