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
 * back (`recycle`) *with its reservation* and is reused for the next part of the same size: far
 * less garbage (and GC time) than a fresh 16 MiB buffer per part. At most one such buffer is
 * kept, and only while no transfer waits for budget; otherwise its reservation is given back at
 * once and the buffer left to the GC. So every buffer this transfer holds is paid for (a spare
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
   * `size` < `capacity` lets a new buffer start small and grow (`grow`) within its reservation;
   * a kept buffer of `capacity` bytes is taken whole instead when the budget has one.
   */
  async take(capacity: number, size = capacity): Promise<PartBuffer> {
    const kept = this.reuse(capacity, size);
    if (kept) return kept;
    const { buffer, release } = await this.budget.reserveBuffer(capacity, size, this.signal);
    return this.part(capacity, buffer, release);
  }

  /** Like `take` but only when the budget has room now; undefined otherwise. */
  tryTake(capacity: number): PartBuffer | undefined {
    const kept = this.reuse(capacity, capacity);
    if (kept) return kept;
    const got = this.budget.tryReserveBuffer(capacity);
    return got && this.part(capacity, got.buffer, got.release);
  }

  /**
   * A buffer of `capacity` bytes for a part that started smaller (`take(capacity, size)`) and
   * has filled it: the first `filled` bytes are copied over. Full-size buffers come from the
   * budget's kept ones, as every other part's does.
   */
  grow(part: PartBuffer, filled: number): void {
    const size = Math.min(part.capacity, part.buffer.length * 4);
    const next = size === part.capacity ? this.budget.allocate(size) : Buffer.allocUnsafe(size);
    part.buffer.copy(next, 0, 0, filled);
    part.buffer = next;
  }

  /**
   * The buffer came from the budget's kept ones (or is new), and goes back to them with the
   * reservation (whatever buffer the part holds by then: `grow` may have replaced it).
   * Released only once nothing uses the buffer any more (its part was sent, or dropped).
   */
  private part(capacity: number, buffer: Buffer, reserved: () => void): PartBuffer {
    const budget = this.budget;
    let released = false;
    const part: PartBuffer = {
      buffer,
      capacity,
      release: () => {
        if (released) return;
        released = true;
        budget.recycle(part.buffer, capacity); // kept before the reservation wakes a waiter
        reserved();
      },
    };
    return part;
  }

  /**
   * A sent part's buffer and its reservation, given back: kept for the next part while nobody
   * waits for budget and no other is kept; released otherwise (the buffer then goes back to the
   * budget's kept buffers).
   */
  recycle(part: PartBuffer): void {
    if (
      this.spare === undefined &&
      !this.disposed &&
      !this.budget.waiting &&
      part.buffer.length === part.capacity
    )
      this.spare = part;
    else part.release();
  }

  /** Give the kept buffer's reservation back now (someone waits for budget); later ones may keep one. */
  releaseSpare(): void {
    this.spare?.release();
    this.spare = undefined;
  }

  /** The transfer is over: give the kept buffer's reservation back (later recycles release). */
  dispose(): void {
    this.disposed = true;
    this.spare?.release();
    this.spare = undefined;
  }

  private reuse(capacity: number, size: number): PartBuffer | undefined {
    const s = this.spare;
    if (!s) return undefined;
    this.spare = undefined;
    if (s.capacity === capacity && (s.buffer.length === size || s.buffer.length === capacity)) return s;
    s.release(); // the part size changed: of no more use
    return undefined;
  }
}
