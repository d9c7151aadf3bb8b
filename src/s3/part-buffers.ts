import type { BufferBudget } from './buffer-budget.js';

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
 * back (`recycle`) and is reused for a later part of the same size: far less garbage (and GC
 * time) than a fresh 16 MiB buffer per part. Every reservation is taken whole, up front, so a
 * transfer never waits for more budget while holding some (no hold-and-wait: transfers sharing
 * the budget can't deadlock).
 */
export class PartBuffers {
  private spare: Buffer[] = [];

  constructor(
    private readonly budget: BufferBudget,
    private readonly signal?: AbortSignal,
  ) {}

  /**
   * A buffer of `size` bytes (≤ `capacity`) with `capacity` bytes reserved; waits for budget.
   * `size` < `capacity` lets a buffer start small and grow (`grow`) within its reservation.
   */
  async take(capacity: number, size = capacity): Promise<PartBuffer> {
    const release = await this.budget.reserve(capacity, this.signal);
    return { buffer: this.alloc(size), capacity, release };
  }

  /** Like `take` but only when the budget has room now; undefined otherwise. */
  tryTake(capacity: number): PartBuffer | undefined {
    const release = this.budget.tryReserve(capacity);
    return release && { buffer: this.alloc(capacity), capacity, release };
  }

  /** Return a sent part's buffer for reuse. */
  recycle(buffer: Buffer): void {
    this.spare.push(buffer);
  }

  private alloc(size: number): Buffer {
    const i = this.spare.findIndex((b) => b.length === size);
    if (i >= 0) return this.spare.splice(i, 1)[0]!;
    this.spare = []; // the part size changed: the old buffers are of no more use
    return Buffer.allocUnsafe(size);
  }
}
