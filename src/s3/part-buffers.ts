import type { BufferBudget } from './buffer-budget.js';
import { poolOf } from './buffer-pool.js';

/** A part buffer and the budget reservation that pays for it. */
export interface PartBuffer {
  buffer: Buffer;
  /** Bytes reserved for this part (the buffer may start smaller and grow within it). */
  capacity: number;
  /** Give the reservation back (idempotent). */
  release: () => void;
}

/**
 * Part buffers of one transfer, paid for from a byte budget. A buffer whose part was sent comes
 * back (`recycle`) *with its reservation* and is reused for the next part of the same size: far
 * less garbage (and GC time) than a fresh 16 MiB buffer per part. At most one such buffer is
 * kept, and only while no transfer waits for budget; otherwise its reservation is given back at
 * once and the buffer goes to the budget's pool (buffer-pool.ts). So every buffer this transfer holds is paid for (a spare
 * kept without its reservation was memory past the budget: 20 uploads held ~600 MiB that way).
 * Every reservation is taken whole, up front, so a transfer never waits for more budget while
 * holding some (no hold-and-wait: transfers sharing the budget can't deadlock). `dispose` when
 * the transfer ends gives the kept buffer's reservation back.
 */
export class PartBuffers {
  private spare: PartBuffer | undefined;
  private disposed = false;

  constructor(
    private readonly budget: BufferBudget,
    private readonly signal?: AbortSignal,
  ) {}

  /** Bytes of the kept spare buffer (always also held in the budget). */
  get spareBytes(): number {
    return this.spare?.buffer.length ?? 0;
  }

  /**
   * A buffer of `size` bytes (≤ `capacity`) with `capacity` bytes reserved; waits for budget.
   * `size` < `capacity` lets a buffer start small and grow (`grow`) within its reservation.
   */
  async take(capacity: number, size = capacity): Promise<PartBuffer> {
    const kept = this.reuse(capacity, size);
    if (kept) return kept;
    const release = await this.budget.reserve(capacity, this.signal);
    return { buffer: poolOf(this.budget).take(size), capacity, release };
  }

  /** Like `take` but only when the budget has room now; undefined otherwise. */
  tryTake(capacity: number): PartBuffer | undefined {
    const kept = this.reuse(capacity, capacity);
    if (kept) return kept;
    const release = this.budget.tryReserve(capacity);
    return release && { buffer: poolOf(this.budget).take(capacity), capacity, release };
  }

  /**
   * A sent part's buffer and its reservation, given back: kept for the next part while nobody
   * waits for budget and no other is kept; released otherwise.
   */
  recycle(part: PartBuffer): void {
    if (
      this.spare === undefined &&
      !this.disposed &&
      !this.budget.waiting &&
      part.buffer.length === part.capacity
    )
      this.spare = part;
    else this.letGo(part);
  }

  /** The transfer is over: give the kept buffer's reservation back (later recycles release). */
  dispose(): void {
    this.disposed = true;
    if (this.spare) this.letGo(this.spare);
    this.spare = undefined;
  }

  /** Give a part's reservation back and its buffer to the budget's pool (for the next transfer). */
  private letGo(part: PartBuffer): void {
    part.release();
    poolOf(this.budget).give(part.buffer);
  }

  private reuse(capacity: number, size: number): PartBuffer | undefined {
    const s = this.spare;
    if (!s) return undefined;
    this.spare = undefined;
    if (s.capacity === capacity && s.buffer.length === size) return s;
    this.letGo(s); // the part size changed: of no more use here
    return undefined;
  }
}
