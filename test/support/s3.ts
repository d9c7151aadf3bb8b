import { randomBytes } from 'node:crypto';
import { CreateBucketCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { inject } from 'vitest';
import { lazyS3Client } from '../../src/s3/client.js';
import type { S3Connection } from '../../src/s3/connection.js';
import { s3ConnectionSchema } from '../../src/s3/connection-schema.js';
import { type IncompleteUpload, listIncompleteUploads } from '../../src/s3/uploads.js';
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

/** Whether `key` is an object (HeadObject answers), straight from S3. */
export function objectExists(client: S3Client, bucket: string, key: string): Promise<boolean> {
  return client.send(new HeadObjectCommand({ Bucket: bucket, Key: key })).then(
    () => true,
    () => false,
  );
}

/** The unfinished multipart uploads whose keys start with `prefix`, their parts counted. */
export async function unfinishedUploads(client: S3Client, bucket: string, prefix: string) {
  const out: IncompleteUpload[] = [];
  for await (const u of listIncompleteUploads(client, bucket, prefix, { withParts: true })) out.push(u);
  return out;
}

/**
 * An S3Storage on a fresh prefix of the test bucket, with its raw client for looking behind it.
 * Its client is made as the CLI makes it (lazyS3Client): listings take the lean path (list-lean.ts).
 */
export async function testS3Storage(overrides: Partial<S3Connection> = {}) {
  const conn = testConnection(overrides);
  const lazy = lazyS3Client(conn);
  const client = lazy.get();
  await ensureBucket(client, conn.bucket);
  const raw = new S3Storage(lazy, conn);
  return { conn, client, raw, storage: checkedStorage(raw) };
}

/**
 * The test server's second identity, refused on the first one's buckets. A server without one
 * fails the test saying what is missing (never a crash on `undefined`, never a silent pass).
 */
export function secondUser(): { accessKeyId: string; secretAccessKey: string } {
  const s3 = testS3();
  if (!s3.accessKeyId2 || !s3.secretAccessKey2) {
    throw new Error(
      `this test needs a second S3 identity, refused on the first one's buckets; the ${s3.server} test server has none (for an external endpoint set FERRY_TEST_S3_ACCESS_KEY_2 and FERRY_TEST_S3_SECRET_KEY_2)`,
    );
  }
  return { accessKeyId: s3.accessKeyId2, secretAccessKey: s3.secretAccessKey2 };
}

/** The test server's STS endpoint; a server without one fails the test saying so. */
export function stsEndpoint(): string {
  const s3 = testS3();
  if (!s3.stsEndpoint) {
    throw new Error(
      `this test needs an STS endpoint; the ${s3.server} test server has none (RGW's second gateway has one; for an external endpoint set FERRY_TEST_S3_STS_ENDPOINT)`,
    );
  }
  return s3.stsEndpoint;
}

/**
 * `s3+http://KEY:SECRET@host:port/bucket/path` for the test server (plain HTTP), key and secret
 * URL-encoded: keys may hold `:` (Swift's `test:tester`), secrets `/` and `+`.
 */
export function credentialUrl(creds: { accessKeyId: string; secretAccessKey: string }, rest: string): string {
  const host = testS3().endpoint.replace(/^https?:\/\//, '');
  const auth = `${encodeURIComponent(creds.accessKeyId)}:${encodeURIComponent(creds.secretAccessKey)}`;
  return `s3+http://${auth}@${host}/${rest.replace(/^\//, '')}`;
}
