import { createHash, randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { createS3Client } from '../../src/s3/client.js';
import { checkedStorage } from '../../src/storage/checked.js';
import { S3Storage } from '../../src/storage/s3/s3-storage.js';
import { startFaultProxy } from '../support/fault-proxy.js';
import { ensureBucket, testConnection, testS3 } from '../support/s3.js';

/**
 * Review of the S3 idle timeout (FERRY_S3_IDLE_SECONDS): it must cut a store that says nothing,
 * never a live transfer whose reader is slow. A reader that stops taking bytes for longer than
 * the timeout (a paused client, a slow link downstream) leaves the GET's socket silent: the
 * download must still complete with every byte, not fail mid-way.
 */
const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups) await c().catch(() => {});
});

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('review: a slow reader is not a dead store', () => {
  for (const lean of [true, false]) {
    it(`storage.read with the reader paused past the idle timeout (lean ${lean})`, {
      timeout: 60_000,
    }, async () => {
      const conn = testConnection();
      const env = { ...process.env, FERRY_S3_IDLE_SECONDS: '1', ...(lean ? {} : { FERRY_LEAN_S3: '0' }) };
      const setup = createS3Client(conn);
      await ensureBucket(setup, conn.bucket);
      const plain = new S3Storage(setup, conn);
      cleanups.push(() => plain.removeTree(''));
      const data = randomBytes(24 * 1024 * 1024);
      await plain.write('big.bin', data, { size: data.length });
      const storage = checkedStorage(new S3Storage(createS3Client(conn, env), conn));
      const body = await storage.read('big.bin');
      const chunks: Buffer[] = [];
      let paused = false;
      const got = await (async () => {
        for await (const c of body) {
          chunks.push(c as Buffer);
          if (!paused) {
            paused = true;
            await sleep(3000); // the reader takes nothing for 3 s (> 1 s idle)
          }
        }
        return Buffer.concat(chunks);
      })().catch((e: Error) => e);
      expect(got instanceof Error ? got.message : 'read').toBe('read');
      expect(sha(got as Buffer)).toBe(sha(data));
    });
  }
  it('a store that stops mid-body is still cut (SDK path): the read asks again and completes', {
    timeout: 60_000,
  }, async () => {
    const proxy = await startFaultProxy(testS3().endpoint);
    cleanups.push(() => proxy.close());
    const conn = testConnection({ endpoint: proxy.endpoint });
    const setup = createS3Client(conn);
    await ensureBucket(setup, conn.bucket);
    const plain = new S3Storage(setup, conn);
    cleanups.push(() => plain.removeTree(''));
    const data = randomBytes(3 * 1024 * 1024);
    await plain.write('stall.bin', data, { size: data.length });
    let stalled = 0;
    proxy.decide = (r) => (r.op === 'GetObject' && stalled++ === 0 ? { stallAfterBytes: 100_000 } : 'pass');
    const env = { ...process.env, FERRY_S3_IDLE_SECONDS: '1', FERRY_LEAN_S3: '0' };
    const storage = checkedStorage(new S3Storage(createS3Client(conn, env), conn));
    const chunks: Buffer[] = [];
    for await (const c of await storage.read('stall.bin')) chunks.push(c as Buffer);
    expect(sha(Buffer.concat(chunks))).toBe(sha(data));
    expect(proxy.count('GetObject')).toBeGreaterThanOrEqual(2);
  });
});
