import {
  type BucketCannedACL,
  CreateBucketCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutBucketLoggingCommand,
  PutBucketWebsiteCommand,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { ferry } from '../support/cli.js';
import { motoWithBucket } from '../support/moto.js';
import { suiteFixture } from '../support/suite.js';

/**
 * Issue 10 items 2 and 5 where RGW (Pacific, as scripts/rgw runs it) cannot prove them, on
 * moto_server: `set-class` to archive and infrequent-access classes keeping every other header and
 * the metadata; `bucket info` showing bucket logging and static website configuration (RGW has no
 * PutBucketLogging and answers MethodNotAllowed to website calls unless rgw_enable_static_website).
 */
describe('on moto_server: set-class to other classes, bucket logging and website in bucket info', () => {
  const bucket = 'ferry-moto-features';
  const moto = suiteFixture(() => motoWithBucket(bucket));

  const head = (Key: string) => moto.client.send(new HeadObjectCommand({ Bucket: bucket, Key }));

  it('set-class STANDARD_IA then GLACIER: the class changes, body, type, cache-control and metadata stay', async () => {
    await moto.client.send(
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
      const r = await ferry(['set-class', storageClass, `s3://${bucket}/docs/report.csv`], moto.env);
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
    expect((await ferry(['stat', `s3://${bucket}/docs/report.csv`], moto.env)).stdout).toMatch(
      /^storage-class: GLACIER$/m,
    );
    expect((await ferry(['cat', `s3://${bucket}/docs/report.csv`], moto.env)).stderr).toMatch(
      /ferry restore/,
    );
  });

  it('set-class -r on a folder: every file below, its metadata kept', async () => {
    for (const key of ['tree/a.txt', 'tree/sub/b.txt'])
      await moto.client.send(
        new PutObjectCommand({ Bucket: bucket, Key: key, Body: key, Metadata: { k: key.length.toString() } }),
      );
    const r = await ferry(['set-class', '-r', 'ONEZONE_IA', `s3://${bucket}/tree/`], moto.env);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/2 file\(s\) now in ONEZONE_IA/);
    for (const key of ['tree/a.txt', 'tree/sub/b.txt']) {
      const h = await head(key);
      expect(h.StorageClass).toBe('ONEZONE_IA');
      expect(h.Metadata).toEqual({ k: key.length.toString() });
      const body = await moto.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      expect(await body.Body!.transformToString()).toBe(key);
    }
  });

  it('bucket info shows bucket logging (target bucket and prefix) and the static website configuration', async () => {
    const before = JSON.parse((await ferry(['bucket', 'info', '--json', `s3://${bucket}`], moto.env)).stdout);
    expect(before.logging).toEqual({ value: 'off' });
    expect(before.website).toEqual({ value: 'off' });

    const logs = `${bucket}-logs`;
    // S3's canned ACL for logging targets (missing from the SDK's BucketCannedACL type).
    const ACL = 'log-delivery-write' as BucketCannedACL;
    await moto.client.send(new CreateBucketCommand({ Bucket: logs, ACL }));
    await moto.client.send(
      new PutBucketLoggingCommand({
        Bucket: bucket,
        BucketLoggingStatus: { LoggingEnabled: { TargetBucket: logs, TargetPrefix: 'access/' } },
      }),
    );
    await moto.client.send(
      new PutBucketWebsiteCommand({
        Bucket: bucket,
        WebsiteConfiguration: {
          IndexDocument: { Suffix: 'index.html' },
          ErrorDocument: { Key: 'error.html' },
        },
      }),
    );
    const info = await ferry(['bucket', 'info', `s3://${bucket}`], moto.env);
    expect(info.code).toBe(0);
    expect(info.stdout).toMatch(new RegExp(`^logging +to s3://${logs}/access/$`, 'm'));
    expect(info.stdout).toMatch(/^website +index index\.html, error error\.html$/m);

    await moto.client.send(
      new PutBucketWebsiteCommand({
        Bucket: bucket,
        WebsiteConfiguration: { RedirectAllRequestsTo: { HostName: 'www.example.com', Protocol: 'https' } },
      }),
    );
    const json = JSON.parse((await ferry(['bucket', 'info', '--json', `s3://${bucket}`], moto.env)).stdout);
    expect(json.website).toEqual({ value: 'redirects to www.example.com' });
  });
});
