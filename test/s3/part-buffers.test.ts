import { describe, expect, it } from 'vitest';
import { BufferBudget } from '../../src/s3/buffer-budget.js';
import { PartBuffers } from '../../src/s3/part-buffers.js';

const MiB = 1024 * 1024;

describe('PartBuffers: every buffer a transfer keeps is paid for by the budget', () => {
  it('a sent part kept for reuse keeps its reservation; dispose gives it back', async () => {
    const budget = new BufferBudget(64 * MiB);
    const buffers = new PartBuffers(budget);
    const a = await buffers.take(16 * MiB);
    const b = await buffers.take(16 * MiB);
    buffers.recycle(a);
    buffers.recycle(b);
    // One is kept (with its 16 MiB reserved), the other released: nothing held unpaid.
    expect(buffers.spareBytes).toBe(16 * MiB);
    expect(budget.held).toBe(16 * MiB);
    const c = await buffers.take(16 * MiB);
    expect(c.buffer).toBe(a.buffer); // reused, no new reservation
    expect(budget.held).toBe(16 * MiB);
    buffers.recycle(c);
    buffers.dispose();
    expect(budget.held).toBe(0);
    expect(buffers.spareBytes).toBe(0);
  });

  it('a recycled part goes back to the budget when another transfer waits for it', async () => {
    const budget = new BufferBudget(32 * MiB);
    const one = new PartBuffers(budget);
    const other = new PartBuffers(budget);
    const a = await one.take(16 * MiB);
    await one.take(16 * MiB);
    let granted = false;
    const waiting = other.take(16 * MiB).then((p) => {
      granted = true;
      return p;
    });
    await new Promise((r) => setImmediate(r));
    expect(granted).toBe(false);
    one.recycle(a); // not kept: `other` waits
    const p = await waiting;
    expect(granted).toBe(true);
    expect(one.spareBytes).toBe(0);
    expect(budget.held).toBe(32 * MiB);
    expect(budget.peak).toBe(32 * MiB);
    p.release();
  });

  it('a spare of another size is released, not kept beside the new part', async () => {
    const budget = new BufferBudget(64 * MiB);
    const buffers = new PartBuffers(budget);
    buffers.recycle(await buffers.take(16 * MiB));
    const bigger = await buffers.take(32 * MiB);
    expect(budget.held).toBe(32 * MiB);
    bigger.release();
    buffers.dispose();
    expect(budget.held).toBe(0);
  });

  it('a released part buffer is kept by the budget and handed to the next transfer (no new 16 MiB buffer for the GC to find late)', async () => {
    const budget = new BufferBudget(32 * MiB);
    const one = new PartBuffers(budget);
    const other = new PartBuffers(budget);
    const a = await one.take(16 * MiB);
    const b = await one.take(16 * MiB);
    let got: Buffer | undefined;
    const waiting = other.take(16 * MiB).then((p) => {
      got = p.buffer;
      return p;
    });
    one.recycle(a); // `other` waits: released, and its buffer kept by the budget for it
    const p = await waiting;
    expect(got).toBe(a.buffer);
    expect(budget.pooled).toBe(0);
    // Held and kept together never pass the limit: with 32 MiB held, nothing more is kept.
    b.release();
    expect(budget.pooled).toBe(16 * MiB);
    expect(budget.held + budget.pooled).toBeLessThanOrEqual(budget.limit);
    // A part that starts small takes a kept full-size buffer whole when there is one.
    const third = new PartBuffers(budget);
    const c = await third.take(16 * MiB, 256 * 1024);
    expect(c.buffer).toBe(b.buffer);
    expect(budget.pooled).toBe(0);
    c.release();
    p.release();
    one.dispose();
    expect(budget.held).toBe(0);
    expect(budget.pooled).toBe(32 * MiB);
    budget.dropKept();
    expect(budget.pooled).toBe(0);
  });

  it('bytes charged (WRITEs waiting for their handle) never make the budget drop a part buffer: the transfer waiting gets the released one', async () => {
    const budget = new BufferBudget(32 * MiB);
    const one = new PartBuffers(budget);
    const other = new PartBuffers(budget);
    const a = await one.take(16 * MiB);
    const b = await one.take(16 * MiB);
    // 2 MiB of WRITEs received for `other`, waiting for its buffer: the budget is spent.
    const uncharge = budget.charge(2 * MiB);
    expect(budget.spent).toBe(true);
    let got: Buffer | undefined;
    const waiting = other.take(16 * MiB).then((p) => {
      got = p.buffer;
      return p;
    });
    one.recycle(a); // released (`other` waits): the buffer stays with the budget, for `other`
    expect(budget.pooled).toBe(16 * MiB);
    await new Promise((r) => setImmediate(r));
    expect(got).toBeUndefined(); // 16 reserved + 2 charged + 16 more would pass the limit
    uncharge();
    const p = await waiting;
    expect(got).toBe(a.buffer); // not a fresh 16 MiB buffer (the dropped one resident until a full GC)
    expect(budget.freshBuffers).toBe(2);
    expect(budget.droppedBuffers).toBe(0);
    // A kept buffer stays kept when WRITE bytes arrive: reserved + kept still fit the limit.
    b.release();
    expect(budget.pooled).toBe(16 * MiB);
    const more = budget.charge(4 * MiB);
    expect(budget.pooled).toBe(16 * MiB);
    more();
    const c = await new PartBuffers(budget).take(16 * MiB);
    expect(c.buffer).toBe(b.buffer);
    expect(budget.freshBuffers).toBe(2);
    expect(budget.droppedBuffers).toBe(0);
    c.release();
    p.release();
    one.dispose();
    expect(budget.held).toBe(0);
    budget.dropKept();
  });

  it('kept buffers are dropped as reservations need the room (held + kept ≤ limit)', async () => {
    const budget = new BufferBudget(32 * MiB);
    const one = new PartBuffers(budget);
    const a = await one.take(16 * MiB);
    const b = await one.take(16 * MiB);
    a.release();
    b.release();
    expect(budget.pooled).toBe(32 * MiB);
    // A reservation of another size: kept buffers are let go so the total stays within the limit.
    const release = await budget.reserve(24 * MiB);
    expect(budget.held + budget.pooled).toBeLessThanOrEqual(32 * MiB);
    expect(budget.pooled).toBe(0);
    release();
    budget.dropKept();
  });
});
