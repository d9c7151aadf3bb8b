import { randomBytes } from 'node:crypto';
import { ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import { afterAll, describe, expect, it } from 'vitest';
import { createS3Client } from '../../src/s3/client.js';
import { checkedStorage } from '../../src/storage/checked.js';
import { S3Storage } from '../../src/storage/s3/s3-storage.js';
import { startFaultProxy } from '../support/fault-proxy.js';
import { ensureBucket, testConnection, testS3 } from '../support/s3.js';

/**
 * Review (session 14): a store that takes a request and never answers hung a transfer forever
 * (no socket timeout on the SDK's handler nor on the lean path). With FERRY_S3_IDLE_SECONDS=1 the
 * write fails after its attempts' silences, with an error saying so, and a multipart upload it
 * started is aborted, not left behind. (The test's own 60 s timeout is what a hang hits.)
 */
const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups) await c().catch(() => {});
});

describe('a store that never answers', () => {
  for (const [what, op, size, lean] of [
    ['small PUT, lean path', 'PutObject', 1000, true],
    ['small PUT, SDK path', 'PutObject', 1000, false],
    ['multipart part', 'UploadPart', 20 * 1024 * 1024, true],
  ] as [string, string, number, boolean][]) {
    it(`${what}: the write fails after the idle timeout; no upload is left`, {
      timeout: 60_000,
    }, async () => {
      const proxy = await startFaultProxy(testS3().endpoint);
      cleanups.push(() => proxy.close());
      const conn = testConnection({ endpoint: proxy.endpoint, partSize: 5 * 1024 * 1024 });
      const env = { ...process.env, FERRY_S3_IDLE_SECONDS: '1', ...(lean ? {} : { FERRY_LEAN_S3: '0' }) };
      const client = createS3Client(conn, env);
      await ensureBucket(client, conn.bucket);
      cleanups.push(() => new S3Storage(createS3Client(conn), conn).removeTree(''));
      const storage = checkedStorage(new S3Storage(client, conn));
      proxy.decide = (r) => (r.op === op ? 'hang' : 'pass');
      const err = await storage.write('stuck.bin', randomBytes(size), { size, targetListed: true }).then(
        () => undefined,
        (e: Error) => e,
      );
      expect(err?.message).toMatch(/no answer|timed out|inactivity/i);
      expect(proxy.count(op)).toBeGreaterThanOrEqual(1);
      const ups = await client.send(
        new ListMultipartUploadsCommand({ Bucket: conn.bucket, Prefix: conn.prefix }),
      );
      expect((ups.Uploads ?? []).filter((u) => u.Key?.endsWith('stuck.bin'))).toEqual([]);
      await expect(storage.stat('stuck.bin')).rejects.toMatchObject({ code: 'NotFound' });
    });
  }
});
