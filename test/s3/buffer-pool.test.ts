import { describe, expect, it } from 'vitest';
import { BufferBudget } from '../../src/s3/buffer-budget.js';
import { BufferPool, poolOf } from '../../src/s3/buffer-pool.js';
import { PartBuffers } from '../../src/s3/part-buffers.js';

const MiB = 1024 * 1024;

describe('BufferPool: part buffers reused across transfers, within the budget', () => {
  it('gives back the same buffer for the same size, a new one for another size', () => {
    const pool = new BufferPool(new BufferBudget(64 * MiB));
    const a = pool.take(4 * MiB);
    pool.give(a);
    expect(pool.bytes).toBe(4 * MiB);
    expect(pool.take(4 * MiB) === a).toBe(true); // (toBe on a 4 MiB Buffer formats it: slow)
    expect(pool.bytes).toBe(0);
    expect(pool.take(4 * MiB) === a).toBe(false);
    expect(pool.take(2 * MiB).length).toBe(2 * MiB);
  });

  it('keeps idle buffers only while held + idle fit the limit', async () => {
    const budget = new BufferBudget(10 * MiB);
    const pool = new BufferPool(budget);
    const held = await budget.reserve(6 * MiB);
    pool.give(Buffer.allocUnsafe(4 * MiB));
    expect(pool.bytes).toBe(4 * MiB); // 6 + 4 ≤ 10
    pool.give(Buffer.allocUnsafe(4 * MiB));
    expect(pool.bytes).toBe(4 * MiB); // 6 + 8 > 10: let go
    held();
    pool.give(Buffer.allocUnsafe(4 * MiB));
    expect(pool.bytes).toBe(8 * MiB);
    // A new buffer of another size, with the budget held again: idle ones make room.
    const again = await budget.reserve(6 * MiB);
    pool.take(1 * MiB);
    expect(budget.held + pool.bytes).toBeLessThanOrEqual(10 * MiB);
    again();
  });

  it('never keeps a view of a larger buffer (it would pin memory it does not count)', () => {
    const pool = new BufferPool(new BufferBudget(64 * MiB));
    pool.give(Buffer.allocUnsafe(8 * MiB).subarray(0, 4 * MiB));
    expect(pool.bytes).toBe(0);
  });

  it("a finished transfer's part buffers serve the next transfer", async () => {
    const budget = new BufferBudget(64 * MiB);
    const first = new PartBuffers(budget);
    const part = await first.take(8 * MiB);
    first.recycle(part); // kept as the transfer's spare, reservation and all
    first.dispose(); // the transfer is over: the buffer goes to the pool
    expect(budget.held).toBe(0);
    expect(poolOf(budget).bytes).toBe(8 * MiB);
    const second = new PartBuffers(budget);
    const next = await second.take(8 * MiB);
    expect(next.buffer === part.buffer).toBe(true);
    expect(budget.held).toBe(8 * MiB);
    next.release();
  });
});
