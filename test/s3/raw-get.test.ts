import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BufferBudget } from '../../src/s3/buffer-budget.js';
import { createS3Client } from '../../src/s3/client.js';
import { getRangeInto, rawGetStats } from '../../src/s3/raw-get.js';
import { checkedStorage } from '../../src/storage/checked.js';
import { S3Storage } from '../../src/storage/s3/s3-storage.js';
import type { Storage } from '../../src/storage/types.js';
import { startFaultProxy } from '../support/fault-proxy.js';
import { ensureBucket, testConnection, testS3 } from '../support/s3.js';

const MiB = 1024 * 1024;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/**
 * Parts of a read read straight into their buffers (src/s3/raw-get.ts) through a fault proxy in
 * front of RGW: every byte right, a body cut short asked again from where it stopped, anything
 * but a 206 for the range handed to the SDK.
 */
describe('ranged GETs read straight into the part buffer', () => {
  let proxy: Awaited<ReturnType<typeof startFaultProxy>>;
  let store: S3Storage;
  let s: Storage;
  const big = randomBytes(5 * MiB + 4321);

  beforeAll(async () => {
    proxy = await startFaultProxy(testS3().endpoint);
    const conn = testConnection({ endpoint: proxy.endpoint });
    const client = createS3Client(conn, { ...process.env, FERRY_S3_IDLE_SECONDS: '1' });
    await ensureBucket(client, conn.bucket);
    store = new S3Storage(client, conn);
    store.download = { ...store.download, partSize: MiB, concurrency: 2 };
    store.budget = new BufferBudget(64 * MiB);
    s = checkedStorage(store);
    await s.write('big.bin', big, { size: big.length });
  });
  afterAll(async () => {
    proxy.decide = () => 'pass';
    await s?.removeTree?.('').catch(() => {});
    await s?.close?.();
    await proxy?.close();
  });

  /** Read the whole of big.bin as an SFTP get does (255 KiB reads, lent views copied out). */
  const readAll = async () => {
    const handle = await s.openRead('big.bin');
    const out: Buffer[] = [];
    for (let at = 0; at < big.length; at += 255 * 1024) {
      const lent = await handle.lend!(at, 255 * 1024);
      out.push(Buffer.from(lent.bytes));
      lent.release();
    }
    await handle.close();
    return Buffer.concat(out);
  };
  const ranges = (from: number) =>
    proxy.seen
      .slice(from)
      .filter((r) => r.op === 'GetObject')
      .map((r) => r.range);

  it('every part after the first comes raw, byte-identical, on kept connections', async () => {
    const before = { ...rawGetStats };
    const seen = proxy.seen.length;
    expect(sha(await readAll())).toBe(sha(big));
    expect(rawGetStats.gets - before.gets).toBe(5); // parts 1–5; part 0 is the open's own GET
    expect(rawGetStats.handedToSdk - before.handedToSdk).toBe(0);
    expect(ranges(seen)).toHaveLength(6);
    const again = { ...rawGetStats };
    expect(sha(await readAll())).toBe(sha(big));
    expect(rawGetStats.reused - again.reused).toBeGreaterThan(0);
  });

  it('a body reset mid-way is asked again from where it stopped, and the bytes are right', async () => {
    let cut = 0;
    proxy.decide = (r) => {
      if (r.op === 'GetObject' && r.range === `bytes=${2 * MiB}-${3 * MiB - 1}` && cut++ === 0)
        return { resetAfterBytes: 300_000 };
      return 'pass';
    };
    const seen = proxy.seen.length;
    try {
      expect(sha(await readAll())).toBe(sha(big));
    } finally {
      proxy.decide = () => 'pass';
    }
    expect(cut).toBe(1);
    // The rest of part 2 from the byte after the last one received (300,000 or fewer got through).
    const rest = ranges(seen).filter(
      (r) => r?.endsWith(`-${3 * MiB - 1}`) && r !== `bytes=${2 * MiB}-${3 * MiB - 1}`,
    );
    expect(rest).toHaveLength(1);
    const from = Number(/^bytes=(\d+)-/.exec(rest[0]!)![1]);
    expect(from).toBeGreaterThan(2 * MiB);
    expect(from).toBeLessThanOrEqual(2 * MiB + 300_000);
  });

  it('a store that goes silent mid-body: after the idle timeout the rest is asked again', {
    timeout: 30_000,
  }, async () => {
    let stalled = 0;
    proxy.decide = (r) =>
      r.op === 'GetObject' && r.range === `bytes=${3 * MiB}-${4 * MiB - 1}` && stalled++ === 0
        ? { stallAfterBytes: 100_000 }
        : 'pass';
    const seen = proxy.seen.length;
    try {
      expect(sha(await readAll())).toBe(sha(big));
    } finally {
      proxy.decide = () => 'pass';
    }
    expect(stalled).toBe(1);
    const part3 = ranges(seen).filter((r) => r?.endsWith(`-${4 * MiB - 1}`));
    expect(part3).toEqual([`bytes=${3 * MiB}-${4 * MiB - 1}`, `bytes=${3 * MiB + 100_000}-${4 * MiB - 1}`]);
  });

  it('an answer other than a 206 for the range goes to the SDK, which retries it', async () => {
    let failed = 0;
    proxy.decide = (r) =>
      r.op === 'GetObject' && r.range === `bytes=${4 * MiB}-${5 * MiB - 1}` && failed++ === 0
        ? 'fail'
        : 'pass';
    const before = { ...rawGetStats };
    try {
      expect(sha(await readAll())).toBe(sha(big));
    } finally {
      proxy.decide = () => 'pass';
    }
    expect(failed).toBe(2); // the raw GET's 500, then the SDK's own try
    expect(rawGetStats.handedToSdk - before.handedToSdk).toBe(1);
  });

  it('a replaced object: the 412 goes to the SDK and the read fails with Conflict', async () => {
    await s.write('swap.bin', big, { size: big.length });
    const handle = await s.openRead('swap.bin');
    await s.write('swap.bin', big.subarray(0, 1000));
    const before = { ...rawGetStats };
    const err = await handle.read(2 * MiB, 10).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'Conflict', path: 'swap.bin' });
    expect(rawGetStats.handedToSdk - before.handedToSdk).toBeGreaterThan(0);
    await handle.close();
  });

  it('an abort mid-body rejects at once, and bytes the store sends after it land nowhere', async () => {
    // The proxy sends 50,000 bytes, holds the rest, and sends it 600 ms later: after the abort.
    proxy.decide = (r) => (r.op === 'GetObject' ? { stallAfterBytes: 50_000, resumeAfterMs: 600 } : 'pass');
    const into = Buffer.alloc(MiB, 7);
    const controller = new AbortController();
    try {
      const input = { Bucket: store.bucket, Key: store.keys.file('big.bin') };
      const got = getRangeInto(store.client, input, MiB, into, controller.signal);
      setTimeout(() => controller.abort(), 300);
      await expect(got).rejects.toMatchObject({ name: 'AbortError' });
      await new Promise((r) => setTimeout(r, 800));
    } finally {
      proxy.decide = () => 'pass';
    }
    expect(into.subarray(0, 50_000).equals(big.subarray(MiB, MiB + 50_000))).toBe(true);
    expect(into.subarray(50_000).every((b) => b === 7)).toBe(true);
  });
});
