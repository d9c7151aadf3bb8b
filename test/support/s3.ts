import { randomBytes } from 'node:crypto';
import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { inject } from 'vitest';
import { createS3Client } from '../../src/s3/client.js';
import { type S3Connection, s3ConnectionSchema } from '../../src/s3/connection.js';
import { checkedStorage } from '../../src/storage/checked.js';
import { S3Storage } from '../../src/storage/s3/s3-storage.js';
import type { TestS3 } from './global-setup.js';

export const TEST_BUCKET = 'ferry-test';

export function testS3(): TestS3 {
  return inject('s3');
}

/** A connection to the test S3 server; `prefix` defaults to a fresh random one. */
export function testConnection(overrides: Partial<S3Connection> = {}): S3Connection {
  const s3 = testS3();
  return s3ConnectionSchema.parse({
    bucket: TEST_BUCKET,
    prefix: `t-${randomBytes(4).toString('hex')}`,
    endpoint: s3.endpoint,
    region: 'us-east-1',
    accessKeyId: s3.accessKeyId,
    secretAccessKey: s3.secretAccessKey,
    ...overrides,
  });
}

export async function ensureBucket(client: S3Client, bucket = TEST_BUCKET): Promise<void> {
  try {
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
  } catch (err) {
    const name = (err as { name?: string }).name;
    if (name !== 'BucketAlreadyOwnedByYou' && name !== 'BucketAlreadyExists') throw err;
  }
}

/** An S3Storage on a fresh prefix of the test bucket, with its raw client for looking behind it. */
export async function testS3Storage(overrides: Partial<S3Connection> = {}) {
  const conn = testConnection(overrides);
  const client = createS3Client(conn);
  await ensureBucket(client, conn.bucket);
  const raw = new S3Storage(client, conn);
  return { conn, client, raw, storage: checkedStorage(raw) };
}
