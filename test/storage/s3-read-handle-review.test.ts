import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BufferBudget } from '../../src/s3/buffer-budget.js';
import { createS3Client } from '../../src/s3/client.js';
import { checkedStorage } from '../../src/storage/checked.js';
import { S3Storage } from '../../src/storage/s3/s3-storage.js';
import type { Storage } from '../../src/storage/types.js';
import { startFaultProxy } from '../support/fault-proxy.js';
import { ensureBucket, testConnection, testS3 } from '../support/s3.js';

const MiB = 1024 * 1024;

/** Review of the S3 read handle's read-ahead against the budget: a reader that jumps about. */
describe('S3 read handle review: parts dropped while still being fetched', () => {
  let proxy: Awaited<ReturnType<typeof startFaultProxy>>;
  let raw: S3Storage;
  let s: Storage;
  let slow = false;
  const limit = 4 * MiB;
  const budget = new BufferBudget(limit);
  const big = randomBytes(16 * MiB);

  beforeAll(async () => {
    // Every GET answered 400 ms late while `slow`: read-ahead parts are still being fetched when
    // the reader moves on.
    proxy = await startFaultProxy(testS3().endpoint, (r) =>
      slow && r.op === 'GetObject' ? { delayMs: 400 } : 'pass',
    );
    const conn = testConnection({ endpoint: proxy.endpoint });
    const client = createS3Client(conn);
    await ensureBucket(client, conn.bucket);
    raw = new S3Storage(client, conn);
    raw.download = { ...raw.download, partSize: MiB, concurrency: 2 };
    raw.budget = budget;
    s = checkedStorage(raw);
    await s.write('jumpy.bin', big, { size: big.length });
  });
  afterAll(async () => {
    await s?.close?.();
    await proxy?.close();
  });

  it('a reader that jumps ahead again and again never has more part buffers in use than the budget holds', async () => {
    const handle = await s.openRead('jumpy.bin');
    slow = true;
    const fresh = budget.freshBuffers;
    const reads: Promise<Buffer>[] = [];
    // Each step (as pipelined SFTP READs, not awaited): a read just before part t (a GET of its
    // own: not where the last read ended), then one at part t, which continues it (sequential):
    // parts t..t+2 are reserved and fetched ahead, and the parts of the step before — still being
    // fetched — are dropped. Before, a dropped part gave its reservation back at once though its
    // fetch went on filling its buffer: each step took three more buffers, outside the budget.
    for (const t of [2, 5, 8, 11, 14]) {
      reads.push(handle.read(t * MiB - 10, 10));
      reads.push(handle.read(t * MiB, 10));
    }
    expect(budget.freshBuffers - fresh).toBeLessThanOrEqual(limit / MiB);
    expect(budget.held).toBeLessThanOrEqual(limit);
    const got = await Promise.all(reads);
    slow = false;
    for (const [i, t] of [2, 5, 8, 11, 14].entries()) {
      expect(got[2 * i]!.equals(big.subarray(t * MiB - 10, t * MiB))).toBe(true);
      expect(got[2 * i + 1]!.equals(big.subarray(t * MiB, t * MiB + 10))).toBe(true);
    }
    await handle.close();
    // Everything given back once the fetches stopped by the close have settled.
    for (let i = 0; i < 100 && budget.held > 0; i++) await new Promise((r) => setTimeout(r, 50));
    expect(budget.held).toBe(0);
  }, 60_000);
});
