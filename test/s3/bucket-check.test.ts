import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkBucket, discoverBucketRegion } from '../../src/s3/bucket-check.js';
import { createS3Client } from '../../src/s3/client.js';
import { parseConnection, type S3ConnectionInput } from '../../src/s3/connection.js';
import { type Loopback, startHeaderProxy } from '../support/loopback.js';
import { TEST_BUCKET, testS3 } from '../support/s3.js';

const servers: Loopback[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
});
const env = { HOME: mkdtempSync(join(tmpdir(), 'ferry-home-')) };
const conn = (extra: Partial<S3ConnectionInput> = {}) =>
  parseConnection({
    bucket: TEST_BUCKET,
    endpoint: testS3().endpoint,
    region: 'us-east-1',
    accessKeyId: testS3().accessKeyId,
    secretAccessKey: testS3().secretAccessKey,
    ...extra,
  });

describe('bucket region discovery', () => {
  it('takes x-amz-bucket-region when the store sends it', async () => {
    const proxy = await startHeaderProxy(testS3().endpoint, (h) => ({
      ...h,
      'x-amz-bucket-region': 'ap-southeast-2',
    }));
    servers.push(proxy);
    const c = conn({ endpoint: proxy.url });
    expect(await discoverBucketRegion(createS3Client(c, env), c.bucket)).toBe('ap-southeast-2');
  });
  it('ignores a zone group name (RGW answers GetBucketLocation with "default")', async () => {
    const c = conn();
    expect(await discoverBucketRegion(createS3Client(c, env), c.bucket)).toBeUndefined();
  });
});

describe('checking the bucket at login', () => {
  it('a missing bucket is NotFound; a present one passes', async () => {
    await expect(
      checkBucket(createS3Client(conn(), env), conn({ bucket: 'ferry-i3-no-such-bucket' })),
    ).rejects.toThrow(/no such bucket: ferry-i3-no-such-bucket/);
    expect(await checkBucket(createS3Client(conn(), env), conn())).toBe(true);
  });
  it('is skipped with noCheckBucket (for credentials that may not HEAD the bucket)', async () => {
    const c = conn({ bucket: 'ferry-i3-no-such-bucket', noCheckBucket: true });
    expect(await checkBucket(createS3Client(c, env), c)).toBe(false);
  });
  it('a user without rights gets the IAM action to ask for', async () => {
    const c = conn({
      accessKeyId: `${testS3().accessKeyId}2`,
      secretAccessKey: `${testS3().secretAccessKey}2`,
    });
    await expect(checkBucket(createS3Client(c, env), c)).rejects.toThrow(
      /access denied: HeadBucket .* s3:ListBucket/,
    );
  });
});
