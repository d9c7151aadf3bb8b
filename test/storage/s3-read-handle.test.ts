import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BufferBudget } from '../../src/s3/buffer-budget.js';
import { createS3Client } from '../../src/s3/client.js';
import { checkedStorage } from '../../src/storage/checked.js';
import { S3Storage } from '../../src/storage/s3/s3-storage.js';
import type { Storage } from '../../src/storage/types.js';
import { startFaultProxy } from '../support/fault-proxy.js';
import { ensureBucket, testConnection, testS3 } from '../support/s3.js';

const MiB = 1024 * 1024;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** What the S3 read handle costs in requests and memory, seen through a proxy in front of RGW. */
describe('S3 read handle: requests and memory', () => {
  let proxy: Awaited<ReturnType<typeof startFaultProxy>>;
  let raw: S3Storage;
  let s: Storage;
  const budget = new BufferBudget(64 * MiB);
  const big = randomBytes(5 * MiB + 100);
  const small = randomBytes(100 * 1024);

  beforeAll(async () => {
    proxy = await startFaultProxy(testS3().endpoint);
    const conn = testConnection({ endpoint: proxy.endpoint });
    const client = createS3Client(conn);
    await ensureBucket(client, conn.bucket);
    raw = new S3Storage(client, conn);
    raw.download = { ...raw.download, partSize: MiB, concurrency: 2 };
    raw.budget = budget;
    s = checkedStorage(raw);
    await s.write('big.bin', big, { size: big.length });
    await s.write('small.bin', small);
  });
  afterAll(async () => {
    await s?.close?.();
    await proxy?.close();
  });

  const gets = () => proxy.count('GetObject');
  const heads = () => proxy.count('HeadObject');

  it('a small file opened and read whole costs one GET and no HEAD', async () => {
    const [g, h] = [gets(), heads()];
    const handle = await s.openRead('small.bin');
    expect(handle.entry.size).toBe(small.length);
    expect((await handle.read(0, small.length + 10)).equals(small)).toBe(true);
    await handle.close();
    expect(gets() - g).toBe(1);
    expect(heads() - h).toBe(0);
  });

  it('32 KiB sequential reads: one GET per part, memory bounded by read-ahead, all given back', async () => {
    const g = gets();
    budget.peak = 0;
    const handle = await s.openRead('big.bin');
    const out: Buffer[] = [];
    for (let at = 0; at < big.length; at += 32 * 1024) out.push(await handle.read(at, 32 * 1024));
    await handle.close();
    expect(sha(Buffer.concat(out))).toBe(sha(big));
    expect(gets() - g).toBe(6); // ceil((5 MiB + 100) / 1 MiB): the open's GET serves part 0
    // The part being read, `concurrency` ahead and one behind.
    expect(budget.peak).toBeLessThanOrEqual(4 * MiB);
    expect(budget.held).toBe(0);
  });

  it('a part shorter than the part size does not take a kept full-size buffer (it pays only for its bytes)', async () => {
    // Review M1: a 100 KiB file's one part took a kept 1 MiB buffer against a 100 KiB reservation;
    // 256 such handles held open per channel grew memory past the budget, unseen by it.
    budget.recycle(Buffer.allocUnsafe(MiB));
    const kept = budget.pooled;
    expect(kept).toBeGreaterThanOrEqual(MiB);
    const handles = [];
    for (let i = 0; i < 4; i++) {
      const h = await s.openRead('small.bin');
      expect((await h.read(0, 1)).equals(small.subarray(0, 1))).toBe(true);
      handles.push(h);
    }
    expect(budget.pooled).toBe(kept);
    for (const h of handles) await h.close();
    budget.dropKept();
  });

  it('a lent view stays the bytes it lent until released, though the handle read on, dropped its part and refilled kept buffers', async () => {
    const handle = await s.openRead('big.bin');
    expect(handle.lend).toBeDefined();
    const first = await handle.lend!(0, 32 * 1024);
    // A view of the part buffer (not a copy of its own), which is what makes it worth lending.
    expect(first.bytes.buffer.byteLength).toBeGreaterThanOrEqual(MiB);
    // Read on to the end: parts behind the reading position are dropped and their buffers
    // reused (budget.recycle → allocate) for the parts fetched ahead.
    const out: Buffer[] = [Buffer.from(first.bytes)];
    for (let at = 32 * 1024; at < big.length; at += 32 * 1024) {
      const lent = await handle.lend!(at, 32 * 1024);
      out.push(Buffer.from(lent.bytes));
      lent.release();
    }
    expect(sha(Buffer.concat(out))).toBe(sha(big));
    expect(first.bytes.equals(big.subarray(0, 32 * 1024))).toBe(true);
    // A read elsewhere (across two parts, behind the reading position): a copy of its own GET.
    const across = await handle.lend!(MiB - 10, 20);
    expect(across.bytes.equals(big.subarray(MiB - 10, MiB + 10))).toBe(true);
    across.release();
    await handle.close();
    expect(first.bytes.equals(big.subarray(0, 32 * 1024))).toBe(true);
    // While lent, the part's buffer is not among the buffers the budget keeps for new parts.
    const taken: Buffer[] = [];
    for (;;) {
      const pooled = budget.pooled;
      const b = budget.allocate(MiB);
      if (budget.pooled === pooled) break; // a fresh one: no kept buffer of that size left
      taken.push(b);
    }
    expect(taken.some((b) => b.buffer === first.bytes.buffer)).toBe(false);
    first.release();
    first.release(); // a second release does nothing
    // Released, it goes back (and is the next one handed out).
    expect(budget.allocate(MiB).buffer).toBe(first.bytes.buffer);
    expect(budget.held).toBe(0);
    await expect(handle.lend!(0, 10)).rejects.toMatchObject({ code: 'InvalidArgument' });
  });

  it('a read elsewhere is one GET of exactly its range; closing gives back what was read ahead', async () => {
    const handle = await s.openRead('big.bin');
    const g = gets();
    expect((await handle.read(3 * MiB + 7, 1000)).equals(big.subarray(3 * MiB + 7, 3 * MiB + 1007))).toBe(
      true,
    );
    expect(gets() - g).toBe(1);
    expect((await handle.read(0, 10)).equals(big.subarray(0, 10))).toBe(true);
    await handle.close();
    expect(budget.held).toBe(0);
  });

  it('with no budget to spare every read is a ranged GET of its own, still correct', async () => {
    const saved = raw.budget;
    raw.budget = new BufferBudget(1);
    try {
      const handle = await s.openRead('big.bin');
      const out: Buffer[] = [];
      for (let at = 0; at < big.length; at += 2 * MiB) out.push(await handle.read(at, 2 * MiB));
      await handle.close();
      expect(sha(Buffer.concat(out))).toBe(sha(big));
      expect(raw.budget.peak).toBe(0);
    } finally {
      raw.budget = saved;
    }
  });

  it('a replaced object fails the read with Conflict naming the file', async () => {
    await s.write('swap.bin', big, { size: big.length });
    const handle = await s.openRead('swap.bin');
    await s.write('swap.bin', small);
    const err = await handle.read(4 * MiB, 10).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'Conflict', path: 'swap.bin' });
    await handle.close();
  });
});
