import { randomBytes } from 'node:crypto';
import { ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { createS3Client } from '../../src/s3/client.js';
import { S3Storage } from '../../src/storage/s3/s3-storage.js';
import { ensureBucket, testConnection, testS3 } from '../support/s3.js';

const MiB = 1024 * 1024;

/**
 * A client that disconnects while CreateMultipartUpload is on the wire: S3 may already have made
 * the upload when the SDK gives up on the response. The handle must still abort that upload, or
 * it stays in the bucket (billed, invisible) until a lifecycle rule removes it.
 */

/** A storage whose client "disconnects" once a request matching `when` reached the server. */
async function disconnectingStorage(when: (req: Req) => boolean) {
  const conn = testConnection();
  const client = createS3Client(conn);
  await ensureBucket(client, conn.bucket);
  const raw = new S3Storage(client, conn);
  raw.upload = { ...raw.upload, threshold: 5 * MiB, partSize: 5 * MiB, concurrency: 2 };
  const disconnect = new AbortController();
  // The call is done on the server; then the client goes away before the answer is read: a call
  // sent with the (now aborted) signal rejects as the SDK's handler would, one sent without it
  // gets its answer.
  const handler = client.config.requestHandler as {
    handle: (req: Req, o?: { abortSignal?: AbortSignal }) => Promise<unknown>;
  };
  const handle = handler.handle.bind(handler);
  handler.handle = async (req, o) => {
    const out = await handle(req, { ...o, abortSignal: undefined });
    if (!disconnect.signal.aborted && when(req)) {
      disconnect.abort();
      if (o?.abortSignal?.aborted) throw Object.assign(new Error('Request aborted'), { name: 'AbortError' });
    }
    return out;
  };
  const uploads = async () =>
    (await client.send(new ListMultipartUploadsCommand({ Bucket: conn.bucket, Prefix: `${conn.prefix}/` })))
      .Uploads ?? [];
  return { raw, client, signal: disconnect.signal, uploads };
}

interface Req {
  method: string;
  query: Record<string, unknown>;
  headers: Record<string, string>;
}

/**
 * A client that disconnects while CreateMultipartUpload is on the wire: S3 may already have made
 * the upload when the SDK gives up on the response. The handle must still abort that upload, or
 * it stays in the bucket (billed, invisible) until a lifecycle rule removes it.
 */
describe('S3 write handle: a disconnect during CreateMultipartUpload', () => {
  it('leaves no multipart upload behind', async () => {
    const { raw, client, signal, uploads } = await disconnectingStorage(
      (req) => req.method === 'POST' && 'uploads' in req.query,
    );
    try {
      const h = await raw.openWrite('race.bin', { signal });
      await expect(h.write(0, randomBytes(6 * MiB))).rejects.toBeDefined();
      await h.abort();
      expect(await uploads()).toEqual([]);
      await expect(raw.stat('race.bin')).rejects.toMatchObject({ code: 'NotFound' });
    } finally {
      client.destroy();
    }
  });
});

/**
 * An exclusive multipart write on a store without conditional complete (RGW) first claims the
 * name with a zero-byte object; a disconnect while that PUT is on the wire must not leave the
 * claim behind as an empty file nobody wrote.
 */
describe('S3 write handle: a disconnect during the exclusive claim', () => {
  it('leaves no empty file and no upload behind', async () => {
    const { raw, client, signal, uploads } = await disconnectingStorage(
      (req) => req.method === 'PUT' && req.headers['if-none-match'] === '*',
    );
    try {
      const h = await raw.openWrite('claimed.bin', { signal, mode: 'exclusive' });
      await expect(h.write(0, randomBytes(6 * MiB))).rejects.toBeDefined();
      await h.abort();
      expect(await uploads()).toEqual([]);
      await expect(raw.stat('claimed.bin')).rejects.toMatchObject({ code: 'NotFound' });
    } finally {
      client.destroy();
    }
  });
});

/**
 * An exclusive multipart write on RGW holds the name with a claim object until it completes. A
 * plain write that replaced the claim meanwhile made a file there: the exclusive write must then
 * fail with AlreadyExists, not replace that file at close.
 */
// Only where exclusive creates exist (Swift has no conditional PUT: the write-handle suite checks
// that it says NotSupported there).
(testS3().supports.conditionalWrites ? describe : () => {})(
  'S3 write handle: exclusive create when another writer took the name meanwhile',
  () => {
    it('close is AlreadyExists and the other file stays', async () => {
      const conn = testConnection();
      const client = createS3Client(conn);
      await ensureBucket(client, conn.bucket);
      const raw = new S3Storage(client, conn);
      raw.upload = { ...raw.upload, threshold: 5 * MiB, partSize: 5 * MiB, concurrency: 2 };
      try {
        const h = await raw.openWrite('taken.bin', { mode: 'exclusive' });
        await h.write(0, randomBytes(6 * MiB)); // claim made, upload under way
        await raw.write('taken.bin', Buffer.from('the other writer'));
        await expect(h.close()).rejects.toMatchObject({ code: 'AlreadyExists' });
        const st = await raw.stat('taken.bin');
        expect(st.size).toBe('the other writer'.length);
        const res = await client.send(
          new ListMultipartUploadsCommand({ Bucket: conn.bucket, Prefix: `${conn.prefix}/` }),
        );
        expect(res.Uploads ?? []).toEqual([]);
      } finally {
        client.destroy();
      }
    });
  },
);
