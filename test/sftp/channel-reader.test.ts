import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ChannelReader } from '../../src/protocols/sftp/channel-reader.js';
import { BufferBudget } from '../../src/s3/buffer-budget.js';

const MiB = 1024 * 1024;
const tick = () => new Promise((r) => setImmediate(r));

describe('ChannelReader (scp input) and the process budget', () => {
  it('charges the bytes waiting unread to the budget, gives them back as they are read and on dispose', async () => {
    const budget = new BufferBudget(64 * MiB);
    const stream = new PassThrough();
    const reader = new ChannelReader(stream, 4 * MiB, budget);
    for (let i = 0; i < 3; i++) stream.write(Buffer.alloc(MiB, i));
    await tick();
    expect(budget.held).toBe(3 * MiB);
    const first = await reader.chunk(MiB);
    expect(first[0]).toBe(0);
    expect(budget.held).toBe(2 * MiB);
    await reader.chunk(MiB / 2); // half a chunk read: still charged until read whole
    expect(budget.held).toBe(2 * MiB);
    reader.dispose();
    expect(budget.held).toBe(0);
  });

  it('pauses the channel once its waiting bytes pass a sixteenth of the budget, with the budget not spent', async () => {
    const budget = new BufferBudget(16 * MiB);
    const stream = new PassThrough();
    const reader = new ChannelReader(stream, 4 * MiB, budget);
    stream.write(Buffer.alloc(MiB / 2, 1));
    await tick();
    expect(stream.isPaused()).toBe(false); // 512 KiB waiting: not more than 16 / 16
    stream.write(Buffer.alloc(MiB / 2 + 1, 1));
    await tick();
    expect(budget.spent).toBe(false);
    expect(stream.isPaused()).toBe(true); // past 1 MiB waiting: the client gets no more window
    await reader.chunk(MiB);
    expect(stream.isPaused()).toBe(false);
    reader.dispose();
    expect(budget.held).toBe(0);
  });

  it('pauses the channel while the budget is spent and bytes wait; reading them resumes it', async () => {
    const budget = new BufferBudget(16 * MiB);
    const release = budget.overdraw(16 * MiB); // part buffers spend the budget
    const stream = new PassThrough();
    const reader = new ChannelReader(stream, 4 * MiB, budget);
    stream.write(Buffer.alloc(64 * 1024, 1));
    await tick();
    expect(stream.isPaused()).toBe(true); // the client gets no more window
    expect(budget.held).toBe(16 * MiB + 64 * 1024);
    release();
    const piece = await reader.chunk(MiB);
    expect(piece.length).toBe(64 * 1024);
    expect(stream.isPaused()).toBe(false);
    expect(budget.held).toBe(0);
    reader.dispose();
  });
});
