import { CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Client } from '../../src/s3/client.js';
import { parseConnection } from '../../src/s3/connection.js';
import { ferry, requireBuiltCli } from '../support/cli.js';
import { type Moto, startMoto } from '../support/moto.js';

/**
 * Issue 10 item 2 on moto_server (RGW has no archive classes): reading an archived object says to
 * restore it and how long that takes; `stat` shows the restore state; `ferry restore` asks for it
 * (files, or folders with -r); a file that is not archived is refused.
 */
describe('Glacier: ferry restore and the restore state', () => {
  let moto: Moto;
  const bucket = 'ferry-glacier';
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
    const client = createS3Client(
      parseConnection({
        bucket,
        endpoint: moto.url,
        accessKeyId: 'AKIAMOTOTEST00000000',
        secretAccessKey: 'secret',
      }),
    );
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
    for (const key of ['cold/a.bin', 'cold/b.bin'])
      await client.send(
        new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'frozen', StorageClass: 'GLACIER' }),
      );
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'warm.txt', Body: 'warm' }));
    client.destroy();
    await requireBuiltCli();
  });
  afterAll(async () => moto?.stop());

  it('an archived object: a clear error on read, the state in stat, restore asked, the state after', async () => {
    const read = await ferry(['cat', `s3://${bucket}/cold/a.bin`], env());
    expect(read.code).toBe(4);
    expect(read.stderr).toMatch(
      /archived .*`ferry restore s3:\/\/ferry-glacier\/cold\/a\.bin --days N.*Standard 3–5 hours/,
    );
    const before = await ferry(['stat', `s3://${bucket}/cold/a.bin`], env());
    expect(before.stdout).toMatch(/^storage-class: GLACIER$/m);
    expect(before.stdout).toMatch(/^restore:\s+not restored/m);

    const r = await ferry(['restore', '--days', '2', '--tier', 'bulk', `s3://${bucket}/cold/a.bin`], env());
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/restore asked for 1 file\(s\) \(Bulk, 2 day\(s\)\)/);
    const after = await ferry(['stat', `s3://${bucket}/cold/a.bin`], env());
    expect(after.stdout).toMatch(/^restore:\s+(in progress|restored until \d{4}-)/m);
    expect((await ferry(['meta', '--json', `s3://${bucket}/cold/a.bin`], env())).stdout).toMatch(/"restore"/);
  });

  it('restore -r asks for every archived file of a folder; non-archived and bad input are refused', async () => {
    const all = await ferry(['restore', '-r', `s3://${bucket}/cold`], env());
    expect(all.code).toBe(0);
    expect(all.stdout).toMatch(/for \d file\(s\)/);
    expect((await ferry(['restore', `s3://${bucket}/cold`], env())).code).toBe(5);
    const warm = await ferry(['restore', `s3://${bucket}/warm.txt`], env());
    expect(warm.code).toBe(2);
    expect(warm.stderr).toMatch(/not archived/);
    expect((await ferry(['restore', '--tier', 'fast', `s3://${bucket}/cold/b.bin`], env())).code).toBe(2);
    expect((await ferry(['restore', '--days', '0', `s3://${bucket}/cold/b.bin`], env())).code).toBe(2);
  });
});
