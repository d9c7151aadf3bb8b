import {
  type BucketCannedACL,
  CreateBucketCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutBucketLoggingCommand,
  PutBucketWebsiteCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Client } from '../../src/s3/client.js';
import { parseConnection } from '../../src/s3/connection.js';
import { ferry, requireBuiltCli } from '../support/cli.js';
import { type Moto, startMoto } from '../support/moto.js';

/**
 * Issue 10 items 2 and 5 where RGW (Pacific, as scripts/rgw runs it) cannot prove them, on
 * moto_server: `set-class` to archive and infrequent-access classes keeping every other header and
 * the metadata; `bucket info` showing bucket logging and static website configuration (RGW has no
 * PutBucketLogging and answers MethodNotAllowed to website calls unless rgw_enable_static_website).
 */
describe('on moto_server: set-class to other classes, bucket logging and website in bucket info', () => {
  let moto: Moto;
  let client: S3Client;
  const bucket = 'ferry-moto-features';
  const env = () => ({
    ...process.env,
    AWS_ACCESS_KEY_ID: 'AKIAMOTOTEST00000000',
    AWS_SECRET_ACCESS_KEY: 'secret',
    AWS_REGION: 'us-east-1',
    AWS_ENDPOINT_URL: moto.url,
    AWS_CA_BUNDLE: '',
  });
  beforeAll(async () => {
    moto = await startMoto(1_000_000); // no IAM here: every call is a free action
    client = createS3Client(
      parseConnection({
        bucket,
        endpoint: moto.url,
        accessKeyId: 'AKIAMOTOTEST00000000',
        secretAccessKey: 'secret',
      }),
    );
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
    await requireBuiltCli();
  });
  afterAll(async () => {
    client?.destroy();
    await moto?.stop();
  });

  const head = (Key: string) => client.send(new HeadObjectCommand({ Bucket: bucket, Key }));

  it('set-class STANDARD_IA then GLACIER: the class changes, body, type, cache-control and metadata stay', async () => {
    await client.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: 'docs/report.csv',
        Body: 'a,b\n1,2\n',
        ContentType: 'text/csv',
        CacheControl: 'max-age=60',
        ContentDisposition: 'attachment; filename="report.csv"',
        Metadata: { owner: 'finance', 'x-origin': 'ferry' },
      }),
    );
    for (const storageClass of ['STANDARD_IA', 'GLACIER']) {
      const r = await ferry(['set-class', storageClass, `s3://${bucket}/docs/report.csv`], env());
      expect(r.stderr).toMatch(new RegExp(`1 file\\(s\\) now in ${storageClass}`));
      expect(r.code).toBe(0);
      const h = await head('docs/report.csv');
      expect(h.StorageClass).toBe(storageClass);
      expect(h.ContentType).toBe('text/csv');
      expect(h.CacheControl).toBe('max-age=60');
      expect(h.ContentDisposition).toBe('attachment; filename="report.csv"');
      expect(h.Metadata).toEqual({ owner: 'finance', 'x-origin': 'ferry' });
      expect(h.ContentLength).toBe(8);
    }
    // Archived now: stat shows the class, reading says to restore first.
    expect((await ferry(['stat', `s3://${bucket}/docs/report.csv`], env())).stdout).toMatch(
      /^storage-class: GLACIER$/m,
    );
    expect((await ferry(['cat', `s3://${bucket}/docs/report.csv`], env())).stderr).toMatch(/ferry restore/);
  });

  it('set-class -r on a folder: every file below, its metadata kept', async () => {
    for (const key of ['tree/a.txt', 'tree/sub/b.txt'])
      await client.send(
        new PutObjectCommand({ Bucket: bucket, Key: key, Body: key, Metadata: { k: key.length.toString() } }),
      );
    const r = await ferry(['set-class', '-r', 'ONEZONE_IA', `s3://${bucket}/tree/`], env());
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/2 file\(s\) now in ONEZONE_IA/);
    for (const key of ['tree/a.txt', 'tree/sub/b.txt']) {
      const h = await head(key);
      expect(h.StorageClass).toBe('ONEZONE_IA');
      expect(h.Metadata).toEqual({ k: key.length.toString() });
      const body = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      expect(await body.Body!.transformToString()).toBe(key);
    }
  });

  it('bucket info shows bucket logging (target bucket and prefix) and the static website configuration', async () => {
    const before = JSON.parse((await ferry(['bucket', 'info', '--json', `s3://${bucket}`], env())).stdout);
    expect(before.logging).toEqual({ value: 'off' });
    expect(before.website).toEqual({ value: 'off' });

    const logs = `${bucket}-logs`;
    // S3's canned ACL for logging targets (missing from the SDK's BucketCannedACL type).
    const ACL = 'log-delivery-write' as BucketCannedACL;
    await client.send(new CreateBucketCommand({ Bucket: logs, ACL }));
    await client.send(
      new PutBucketLoggingCommand({
        Bucket: bucket,
        BucketLoggingStatus: { LoggingEnabled: { TargetBucket: logs, TargetPrefix: 'access/' } },
      }),
    );
    await client.send(
      new PutBucketWebsiteCommand({
        Bucket: bucket,
        WebsiteConfiguration: {
          IndexDocument: { Suffix: 'index.html' },
          ErrorDocument: { Key: 'error.html' },
        },
      }),
    );
    const info = await ferry(['bucket', 'info', `s3://${bucket}`], env());
    expect(info.code).toBe(0);
    expect(info.stdout).toMatch(new RegExp(`^logging +to s3://${logs}/access/$`, 'm'));
    expect(info.stdout).toMatch(/^website +index index\.html, error error\.html$/m);

    await client.send(
      new PutBucketWebsiteCommand({
        Bucket: bucket,
        WebsiteConfiguration: { RedirectAllRequestsTo: { HostName: 'www.example.com', Protocol: 'https' } },
      }),
    );
    const json = JSON.parse((await ferry(['bucket', 'info', '--json', `s3://${bucket}`], env())).stdout);
    expect(json.website).toEqual({ value: 'redirects to www.example.com' });
  });
});
