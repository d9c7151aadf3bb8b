import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, describe, expect, it } from 'vitest';
import { createS3Client } from '../../src/s3/client.js';
import { listIncompleteUploads } from '../../src/s3/uploads.js';
import { checkedStorage } from '../../src/storage/checked.js';
import { S3Storage } from '../../src/storage/s3/s3-storage.js';
import { startFaultProxy } from '../support/fault-proxy.js';
import { ensureBucket, testConnection, testS3 } from '../support/s3.js';

/**
 * Review of complete-upload.ts (a failed Complete, then a HEAD whose ETag is the parts' multipart
 * ETag, counts as done): the same bytes in the same part sizes make the same ETag, so a file
 * written again unchanged — the common case of a re-upload or a sync — already has "our" ETag
 * before the Complete is sent. A Complete that fails outright (the store answers 500 to every try)
 * was taken as done: the write reported success, its upload was never aborted (left in the
 * bucket, billed) and the object kept the old one's attributes. The object is ours only when the
 * upload is gone as well (a Complete that made it ends the upload).
 */
const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});
const MiB = 1024 * 1024;

async function attempt(how: 'write' | 'openWrite' | 'copy') {
  let completes = 0;
  const proxy = await startFaultProxy(testS3().endpoint, (req) => {
    if (req.op !== 'CompleteMultipartUpload') return 'pass';
    completes++;
    return 'fail';
  });
  cleanups.push(() => proxy.close());
  const sizes = {
    partSize: 5 * MiB,
    multipartThreshold: 5 * MiB,
    multipartCopyThreshold: 5 * MiB,
    multipartCopyPartSize: 5 * MiB,
  };
  const conn = testConnection({ endpoint: proxy.endpoint, ...sizes });
  const direct = createS3Client(testConnection({ prefix: conn.prefix }));
  await ensureBucket(direct, conn.bucket);
  const plain = new S3Storage(direct, testConnection({ prefix: conn.prefix, ...sizes }));
  cleanups.push(() => plain.removeTree(''));
  const storage = checkedStorage(new S3Storage(createS3Client(conn), conn));
  const data = randomBytes(12 * MiB);
  const old = new Date('2001-02-03T04:05:06Z');
  // The file as it was: the same bytes, in the same part sizes, written directly.
  await plain.write('big.bin', Readable.from([data]), { size: data.length, mtime: old });
  if (how === 'copy') await plain.write('src.bin', Readable.from([data]), { size: data.length });
  const key = `${conn.prefix}/big.bin`;
  const before = await direct.send(new HeadObjectCommand({ Bucket: conn.bucket, Key: key }));
  const outcome = await (async () => {
    if (how === 'copy') return storage.copy!('src.bin', 'big.bin');
    if (how === 'write')
      return storage.write('big.bin', Readable.from([data]), { size: data.length, mtime: new Date() });
    const h = await storage.openWrite!('big.bin', { size: data.length });
    for (let at = 0; at < data.length; at += MiB) await h.write(at, data.subarray(at, at + MiB));
    return h.close();
  })().then(
    (entry) => ({ entry }),
    (err: Error) => ({ err }),
  );
  const left: string[] = [];
  for await (const u of listIncompleteUploads(direct, conn.bucket, `${conn.prefix}/`)) left.push(u.key);
  return { completes, outcome, left, before };
}

describe('review: a Complete that failed, the object there already the same bytes', () => {
  for (const how of ['write', 'openWrite', 'copy'] as const) {
    it(`storage.${how}: fails (the store made nothing), no upload left`, { timeout: 90_000 }, async () => {
      const r = await attempt(how);
      expect(r.before.ETag).toMatch(/-3"$/); // multipart: the ETag our parts make
      expect(r.completes).toBeGreaterThanOrEqual(1);
      expect('err' in r.outcome ? 'failed' : 'reported written').toBe('failed');
      expect(r.left).toEqual([]);
    });
  }
});
