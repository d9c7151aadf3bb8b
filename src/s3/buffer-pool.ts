import type { BufferBudget } from './buffer-budget.js';

/**
 * Idle part buffers kept for the next transfer, per budget. A fresh 16 MiB Buffer is memory the
 * kernel has to fault in page by page on its first write: filling one costs 1–3 ms of CPU per
 * MiB, against ~0.05 ms for a buffer used before (measured with 64 KiB copies, the size of a
 * socket read) — on a 1 GiB SFTP download that was the largest single cost after GC. So buffers
 * whose part is done come back here, and a part takes one of its size before allocating.
 *
 * What is kept stays within the budget: a buffer is kept only while the bytes held (reserved by
 * transfers, which includes the buffers taken from here) plus the idle ones fit its limit, so the
 * process's part memory never passes the budget because of this pool. Only give back a buffer
 * nothing else refers to (no pending socket write, no view handed to a caller).
 */
export class BufferPool {
  private readonly idle = new Map<number, Buffer[]>();
  private idleBytes = 0;

  constructor(private readonly budget: BufferBudget) {}

  /** A buffer of exactly `size` bytes, kept or new (its contents are whatever was there). */
  take(size: number): Buffer {
    const kept = this.idle.get(size)?.pop();
    if (kept) {
      this.idleBytes -= size;
      return kept;
    }
    // Buffers of other sizes make room for this new one when held + idle would pass the limit.
    for (const list of this.idle.values()) {
      while (list.length > 0 && this.budget.held + this.idleBytes > this.budget.limit) {
        this.idleBytes -= list.pop()!.length;
      }
    }
    return Buffer.allocUnsafe(size);
  }

  /** `buffer` is no longer used: keep it while the budget has room for it, else let it go. */
  give(buffer: Buffer): void {
    const size = buffer.length;
    // Whole buffers only (a view of a larger one would pin the rest, uncounted).
    if (buffer.byteOffset !== 0 || buffer.buffer.byteLength !== size) return;
    if (this.budget.held + this.idleBytes + size > this.budget.limit) return;
    const list = this.idle.get(size);
    if (list) list.push(buffer);
    else this.idle.set(size, [buffer]);
    this.idleBytes += size;
  }

  /** Bytes kept idle (for tests and benchmarks). */
  get bytes(): number {
    return this.idleBytes;
  }

  /** Let every idle buffer go. */
  clear(): void {
    this.idle.clear();
    this.idleBytes = 0;
  }
}

const pools = new WeakMap<BufferBudget, BufferPool>();

/** The pool of `budget` (one per budget, made on first use). */
export function poolOf(budget: BufferBudget): BufferPool {
  const known = pools.get(budget);
  if (known) return known;
  const pool = new BufferPool(budget);
  pools.set(budget, pool);
  return pool;
}
