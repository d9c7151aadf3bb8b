import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, describe, expect, it } from 'vitest';
import { createS3Client } from '../../src/s3/client.js';
import { listIncompleteUploads } from '../../src/s3/uploads.js';
import { checkedStorage } from '../../src/storage/checked.js';
import { S3Storage } from '../../src/storage/s3/s3-storage.js';
import { startFaultProxy } from '../support/fault-proxy.js';
import { ensureBucket, testConnection, testS3 } from '../support/s3.js';

/**
 * Review: a CompleteMultipartUpload whose answer comes later than the S3 idle timeout. The store
 * has made the object; the client's socket times out and the SDK sends the Complete again, which
 * the store answers NoSuchUpload (the upload is gone: it became the object). The write must be
 * reported as what it is — done — when the object there is ours (its multipart ETag, from the
 * parts' ETags, and its size), and no multipart upload may be left behind. A front on loopback
 * (test/support/fault-proxy.ts) holds back the first Complete's answer; the store is the real RGW.
 * RGW itself answers the repeated Complete with success; other stores (MinIO, for one) answer
 * NoSuchUpload, which the front then sends in RGW's place (an S3 error document, not forwarded).
 * And the other side: a NoSuchUpload when the object was never made must still fail the write.
 */
const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const MiB = 1024 * 1024;

const NO_SUCH_UPLOAD = {
  error: { status: 404, code: 'NoSuchUpload', message: 'The specified multipart upload does not exist.' },
} as const;

type Repeat = 'store' | 'NoSuchUpload' | 'InternalError' | 'never made';

async function attempt(how: 'write' | 'openWrite' | 'copy', repeat: Repeat) {
  let completes = 0;
  const proxy = await startFaultProxy(testS3().endpoint, (req) => {
    if (req.op !== 'CompleteMultipartUpload') return 'pass';
    completes++;
    if (completes === 1) return repeat === 'never made' ? 'fail' : { delayMs: 3000 };
    return repeat === 'store' ? 'pass' : repeat === 'InternalError' ? 'fail' : NO_SUCH_UPLOAD;
  });
  cleanups.push(() => proxy.close());
  const conn = testConnection({
    endpoint: proxy.endpoint,
    partSize: 5 * MiB,
    multipartThreshold: 5 * MiB,
    multipartCopyThreshold: 5 * MiB,
    multipartCopyPartSize: 5 * MiB,
  });
  const direct = createS3Client(testConnection({ prefix: conn.prefix }));
  await ensureBucket(direct, conn.bucket);
  const plain = new S3Storage(direct, testConnection({ prefix: conn.prefix }));
  cleanups.push(() => plain.removeTree(''));
  const env = { ...process.env, FERRY_S3_IDLE_SECONDS: '1' };
  const storage = checkedStorage(new S3Storage(createS3Client(conn, env), conn));
  const data = randomBytes(12 * MiB);
  if (how === 'copy') await plain.write('src.bin', data, { size: data.length });
  const outcome = await (async () => {
    if (how === 'copy') return storage.copy!('src.bin', 'big.bin');
    if (how === 'write') return storage.write('big.bin', Readable.from([data]), { size: data.length });
    const h = await storage.openWrite!('big.bin', { size: data.length });
    for (let at = 0; at < data.length; at += MiB) await h.write(at, data.subarray(at, at + MiB));
    return h.close();
  })().then(
    (entry) => ({ entry }),
    (err: Error) => ({ err }),
  );
  const key = `${conn.prefix}/big.bin`;
  const left: string[] = [];
  for await (const u of listIncompleteUploads(direct, conn.bucket, `${conn.prefix}/`)) left.push(u.key);
  // The copy's source is not what is looked for.
  if (how === 'copy') await plain.remove('src.bin');
  const stored = await direct
    .send(new GetObjectCommand({ Bucket: conn.bucket, Key: key }))
    .then(async (r) => Buffer.from(await r.Body!.transformToByteArray()))
    .catch(() => undefined);
  return { completes, outcome, left, stored, data };
}

describe('review: a CompleteMultipartUpload answered after the idle timeout', () => {
  for (const how of ['write', 'openWrite', 'copy'] as const) {
    for (const repeat of ['store', 'NoSuchUpload', 'InternalError'] as const) {
      it(`storage.${how}, the repeat answered by ${repeat === 'store' ? 'RGW' : repeat}: success, the object whole, no upload left`, {
        timeout: 60_000,
      }, async () => {
        const r = await attempt(how, repeat);
        expect(r.completes).toBeGreaterThanOrEqual(2); // the Complete was sent again
        expect('err' in r.outcome ? r.outcome.err.message : 'written').toBe('written');
        if ('entry' in r.outcome) expect(r.outcome.entry.size).toBe(r.data.length);
        expect(r.stored && sha(r.stored)).toBe(sha(r.data));
        expect(r.left).toEqual([]);
      });
    }
    it(`storage.${how}: NoSuchUpload when the object was never made still fails, nothing left`, {
      timeout: 60_000,
    }, async () => {
      const r = await attempt(how, 'never made');
      expect(r.completes).toBeGreaterThanOrEqual(2);
      expect('err' in r.outcome).toBe(true);
      expect(r.stored).toBeUndefined();
      expect(r.left).toEqual([]);
    });
  }
});
