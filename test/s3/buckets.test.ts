import { randomBytes } from 'node:crypto';
import {
  CreateMultipartUploadCommand,
  HeadBucketCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Client } from '../../src/s3/client.js';
import { cliEnv, ferry, requireBuiltCli } from '../support/cli.js';
import { testConnection } from '../support/s3.js';

/**
 * Issue 10 item 5: `ferry ls s3://` (buckets, with region), `ferry mb` (naming rules explained),
 * `ferry rb` (empty, or -r with confirmation: every version, delete marker and unfinished upload
 * goes), `ferry bucket info`. On RGW; what S3 holds afterwards is checked with the SDK.
 */
describe('bucket commands', () => {
  const name = `ferry-mb-${randomBytes(4).toString('hex')}`;
  let client: S3Client;
  beforeAll(async () => {
    client = createS3Client(testConnection());
    await requireBuiltCli();
  });
  afterAll(async () => {
    await ferry(['rb', '-r', '--yes', `s3://${name}`]);
    client?.destroy();
  });
  const bucketExists = () =>
    client.send(new HeadBucketCommand({ Bucket: name })).then(
      () => true,
      () => false,
    );

  it('mb explains a bad name and creates nothing; makes a bucket once; ls s3:// lists it', async () => {
    const bad = await ferry(['mb', 's3://Untitled Folder']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/lower-case letters, digits, dots and hyphens/);
    expect((await ferry(['mb', 's3://a..b'])).stderr).toMatch(/two dots in a row/);
    expect((await ferry(['mb', 's3://192.168.1.1'])).stderr).toMatch(/IP address/);
    expect((await ferry(['ls', 's3://'])).stdout).not.toMatch(/Untitled/);

    const made = await ferry(['mb', `s3://${name}`]);
    expect(made.code).toBe(0);
    expect(await bucketExists()).toBe(true);
    const again = await ferry(['mb', `s3://${name}`]);
    expect(again.code).toBe(5);
    expect(again.stderr).toMatch(/already exists \(it is yours\)/);
    expect((await ferry(['ls', 's3://'])).stdout.split('\n')).toContain(`${name}/`);
    const json = (await ferry(['ls', '--json', 's3://'])).stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { name: string; created?: string });
    expect(json.find((b) => b.name === name)?.created).toMatch(/^\d{4}-/);
  });

  it('bucket info shows each setting, and unknown ones with the reason', async () => {
    await client.send(
      new PutBucketVersioningCommand({ Bucket: name, VersioningConfiguration: { Status: 'Enabled' } }),
    );
    const r = await ferry(['bucket', 'info', '--json', `s3://${name}`]);
    expect(r.code).toBe(0);
    const info = JSON.parse(r.stdout);
    expect(info.versioning.value.status).toBe('Enabled');
    expect(info.lifecycleRules).toEqual({ value: 0 });
    expect(info.encryption).toEqual({ value: 'none' });
    expect(Object.keys(info)).toEqual(
      expect.arrayContaining(['region', 'acceleration', 'publicAccessBlock', 'logging', 'website']),
    );
    const text = await ferry(['bucket', 'info', `s3://${name}`]);
    expect(text.stdout).toMatch(/^versioning\s+Enabled, MFA delete Disabled$/m);
    expect(text.stdout).toMatch(/^region\s+default$/m); // RGW names its zone group
    // scripts/rgw runs RGW without rgw_enable_static_website: said plainly (moto shows a real one,
    // test/s3/moto-bucket-object.test.ts).
    expect(text.stdout).toMatch(
      /^website\s+unknown \(not supported by this store \(GetBucketWebsite answered MethodNotAllowed\)\)$/m,
    );
    expect((await ferry(['bucket', 'info', `s3://${name}-missing`])).code).toBe(3);
  });

  it('rb refuses a bucket with contents; rb -r needs --yes without a terminal, then leaves nothing', async () => {
    // Two versions of one key, its delete marker, the `a/` marker `rm` writes to keep the emptied
    // folder, and an unfinished multipart upload.
    for (const body of ['one', 'two'])
      await client.send(new PutObjectCommand({ Bucket: name, Key: 'a/x.txt', Body: body }));
    expect((await ferry(['rm', `s3://${name}/a/x.txt`], cliEnv())).code).toBe(0);
    const mpu = await client.send(new CreateMultipartUploadCommand({ Bucket: name, Key: 'big.bin' }));
    await client.send(
      new UploadPartCommand({
        Bucket: name,
        Key: 'big.bin',
        UploadId: mpu.UploadId,
        PartNumber: 1,
        Body: 'part',
      }),
    );

    const plain = await ferry(['rb', `s3://${name}`]);
    expect(plain.code).toBe(5);
    expect(plain.stderr).toMatch(/not empty .* use -r/);
    const unconfirmed = await ferry(['rb', '-r', `s3://${name}`]);
    expect(unconfirmed.code).toBe(2);
    expect(unconfirmed.stderr).toMatch(/--yes/);
    expect(await bucketExists()).toBe(true);

    const removed = await ferry(['rb', '-r', '--yes', `s3://${name}`]);
    expect(removed.code).toBe(0);
    expect(removed.stdout).toMatch(/4 object version\(s\), 1 unfinished upload\(s\)/);
    expect(await bucketExists()).toBe(false);
  });
});
