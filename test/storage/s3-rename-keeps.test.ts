import { HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { createS3Client } from '../../src/s3/client.js';
import { checkedStorage } from '../../src/storage/checked.js';
import { S3Storage } from '../../src/storage/s3/s3-storage.js';
import { testS3Storage } from '../support/s3.js';

/** Every header a rename must carry over, as another tool may have set them. */
const headers = {
  ContentType: 'text/x-kept',
  CacheControl: 'max-age=60',
  ContentDisposition: 'attachment; filename="kept.txt"',
  ContentEncoding: 'identity',
  ContentLanguage: 'fr',
  Expires: new Date('2031-01-02T03:04:05Z'),
  Metadata: { owner: 'alice', mtime: '1600000000.5' },
};

function put(client: S3Client, bucket: string, key: string, extra: Record<string, unknown> = {}) {
  return client.send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: key,
      Body: 'kept',
      ...headers,
      StorageClass: 'STANDARD',
      ...extra,
    }),
  );
}

async function headOf(client: S3Client, bucket: string, key: string) {
  const h = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
  return {
    ContentType: h.ContentType,
    CacheControl: h.CacheControl,
    ContentDisposition: h.ContentDisposition,
    ContentEncoding: h.ContentEncoding,
    ContentLanguage: h.ContentLanguage,
    Expires: h.Expires,
    Metadata: h.Metadata,
    StorageClass: h.StorageClass ?? 'STANDARD',
  };
}

/**
 * Issue 7 defect 6: a rename is the same object under another name. Through a connection whose
 * defaults differ (storage class, Cache-Control, SSE), nothing of the object changes.
 */
describe('S3 backend: a rename keeps the object exactly', () => {
  it('file and folder renames through a DEEP_ARCHIVE connection keep class STANDARD, headers and metadata', async () => {
    const { conn, client } = await testS3Storage();
    const base = `${conn.prefix}/`;
    await put(client, conn.bucket, `${base}a.txt`);
    await put(client, conn.bucket, `${base}d/in.txt`);
    await put(client, conn.bucket, `${base}d/plain.txt`, { CacheControl: undefined });
    const before = await headOf(client, conn.bucket, `${base}a.txt`);
    const plainBefore = await headOf(client, conn.bucket, `${base}d/plain.txt`);
    // The same place through a connection that would archive and re-cache new objects.
    // (RGW knows only STANDARD: had the copy sent DEEP_ARCHIVE, RGW would refuse it.)
    const archiving = { ...conn, storageClass: 'DEEP_ARCHIVE', cacheControl: 'no-store' };
    const sent: Record<string, unknown>[] = [];
    const raw = createS3Client(archiving);
    raw.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'CopyObjectCommand') sent.push({ ...(args.input as object) });
        return next(args);
      },
      { step: 'initialize', name: 'recordCopies' },
    );
    const storage = checkedStorage(new S3Storage(raw, archiving));
    await storage.rename!('a.txt', 'b.txt');
    await storage.rename!('d', 'e');
    expect(await headOf(client, conn.bucket, `${base}b.txt`)).toEqual(before);
    expect(await headOf(client, conn.bucket, `${base}e/in.txt`)).toEqual(before);
    expect(await headOf(client, conn.bucket, `${base}e/plain.txt`)).toEqual(plainBefore);
    expect(plainBefore.CacheControl).toBeUndefined();
    expect(sent.length).toBe(3);
    for (const input of sent) expect(input.StorageClass).toBe('STANDARD');
    await storage.close?.();
  });

  it('a folder rename below the multipart threshold asks for the source SSE-KMS key on every copy', async () => {
    const { storage: plain, conn } = await testS3Storage();
    await plain.write('k/one.txt', '1');
    await plain.write('k/sub/two.txt', '22');
    const withKms = {
      ...conn,
      sse: 'aws:kms' as const,
      sseKmsKeyId: 'arn:aws:kms:us-east-1:111122223333:key/connection-default',
    };
    const client = createS3Client(withKms);
    const objectKey = 'arn:aws:kms:us-east-1:111122223333:key/object-own';
    const sent: Record<string, unknown>[] = [];
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const input = args.input as Record<string, unknown>;
        if (context.commandName === 'CopyObjectCommand') {
          sent.push({ ...input });
          // This RGW has no KMS: what Ferry asked for is recorded above, the copy goes plain.
          delete input.ServerSideEncryption;
          delete input.SSEKMSKeyId;
        }
        const out = await next(args);
        if (context.commandName === 'HeadObjectCommand') {
          // The objects were written (by another tool) under their own KMS key.
          Object.assign(out.output as object, { ServerSideEncryption: 'aws:kms', SSEKMSKeyId: objectKey });
        }
        return out;
      },
      { step: 'initialize', name: 'kmsObjects' },
    );
    const storage = checkedStorage(new S3Storage(client, withKms));
    await storage.rename!('k', 'moved');
    expect(sent.length).toBe(2);
    for (const input of sent) {
      expect(input).toMatchObject({ ServerSideEncryption: 'aws:kms', SSEKMSKeyId: objectKey });
    }
  });
});
