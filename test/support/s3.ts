import { randomBytes } from 'node:crypto';
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, inject } from 'vitest';
import { createS3Client, lazyS3Client } from '../../src/s3/client.js';
import type { S3Connection } from '../../src/s3/connection.js';
import { s3ConnectionSchema } from '../../src/s3/connection-schema.js';
import { type IncompleteUpload, listIncompleteUploads } from '../../src/s3/uploads.js';
import { checkedStorage } from '../../src/storage/checked.js';
import { S3Storage } from '../../src/storage/s3/s3-storage.js';
import type { Storage } from '../../src/storage/types.js';
import { startFaultProxy } from './fault-proxy.js';
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

/**
 * For a describe block: a raw client on `conn`, and one object per name at `conn.prefix/name`
 * (its body the name), put in beforeAll (the bucket made first); afterAll deletes them and ends
 * the client.
 */
export function clientWithKeys(conn: S3Connection, names: readonly string[]): S3Client {
  const client = createS3Client(conn);
  const base = `${conn.prefix}/`;
  beforeAll(async () => {
    await ensureBucket(client, conn.bucket);
    for (const n of names)
      await client.send(new PutObjectCommand({ Bucket: conn.bucket, Key: base + n, Body: n }));
  });
  afterAll(async () => {
    for (const n of names)
      await client.send(new DeleteObjectCommand({ Bucket: conn.bucket, Key: base + n })).catch(() => {});
    client.destroy();
  });
  return client;
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

/**
 * What the transfer-engine tests share: `direct`, a raw client on `conn` (its bucket made);
 * `proxy`, a fault proxy in front of the test S3; `viaProxy`, a client on `conn` through it.
 * `close` stops the proxy and ends both clients.
 */
export async function s3BehindFaultProxy(conn: S3Connection) {
  const direct = createS3Client(conn);
  let proxy: Awaited<ReturnType<typeof startFaultProxy>> | undefined;
  let viaProxy: S3Client | undefined;
  const close = async () => {
    await proxy?.close();
    direct.destroy();
    viaProxy?.destroy();
  };
  try {
    await ensureBucket(direct, conn.bucket);
    proxy = await startFaultProxy(testS3().endpoint);
    viaProxy = createS3Client({ ...conn, endpoint: proxy.endpoint });
    return { direct, proxy, viaProxy, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/**
 * A crafted store on loopback (`endpoint`, bucket `fake`, prefix `p`) as two storages: the lean
 * S3 path and the SDK's alone (FERRY_LEAN_S3=0), for tests that must hold on both.
 */
export function fakeStoreStorages(endpoint: string): [string, Storage][] {
  const conn = () =>
    testConnection({
      endpoint,
      bucket: 'fake',
      prefix: 'p',
      accessKeyId: 'AKIDFAKE',
      secretAccessKey: 'fake-secret-fake-secret-fake-secret-0000',
    });
  return [
    ['lean', checkedStorage(new S3Storage(lazyS3Client(conn()), conn()))],
    [
      'sdk',
      checkedStorage(new S3Storage(createS3Client(conn(), { ...process.env, FERRY_LEAN_S3: '0' }), conn())),
    ],
  ];
}
