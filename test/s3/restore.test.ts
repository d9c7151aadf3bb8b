import { PutObjectCommand } from '@aws-sdk/client-s3';
import { beforeAll, describe, expect, it } from 'vitest';
import { ferry } from '../support/cli.js';
import { motoWithBucket } from '../support/moto.js';
import { suiteFixture } from '../support/suite.js';

/**
 * Issue 10 item 2 on moto_server (RGW has no archive classes): reading an archived object says to
 * restore it and how long that takes; `stat` shows the restore state; `ferry restore` asks for it
 * (files, or folders with -r); a file that is not archived is refused.
 */
describe('Glacier: ferry restore and the restore state', () => {
  const bucket = 'ferry-glacier';
  const moto = suiteFixture(() => motoWithBucket(bucket));
  beforeAll(async () => {
    for (const key of ['cold/a.bin', 'cold/b.bin'])
      await moto.client.send(
        new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'frozen', StorageClass: 'GLACIER' }),
      );
    await moto.client.send(new PutObjectCommand({ Bucket: bucket, Key: 'warm.txt', Body: 'warm' }));
  });

  it('an archived object: a clear error on read, the state in stat, restore asked, the state after', async () => {
    const read = await ferry(['cat', `s3://${bucket}/cold/a.bin`], moto.env);
    expect(read.code).toBe(4);
    expect(read.stderr).toMatch(
      /archived .*`ferry restore s3:\/\/ferry-glacier\/cold\/a\.bin --days N.*Standard 3–5 hours/,
    );
    const before = await ferry(['stat', `s3://${bucket}/cold/a.bin`], moto.env);
    expect(before.stdout).toMatch(/^storage-class: GLACIER$/m);
    expect(before.stdout).toMatch(/^restore:\s+not restored/m);

    const r = await ferry(
      ['restore', '--days', '2', '--tier', 'bulk', `s3://${bucket}/cold/a.bin`],
      moto.env,
    );
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/restore asked for 1 file\(s\) \(Bulk, 2 day\(s\)\)/);
    const after = await ferry(['stat', `s3://${bucket}/cold/a.bin`], moto.env);
    expect(after.stdout).toMatch(/^restore:\s+(in progress|restored until \d{4}-)/m);
    expect((await ferry(['meta', '--json', `s3://${bucket}/cold/a.bin`], moto.env)).stdout).toMatch(
      /"restore"/,
    );
  });

  it('restore -r asks for every archived file of a folder; non-archived and bad input are refused', async () => {
    const all = await ferry(['restore', '-r', `s3://${bucket}/cold`], moto.env);
    expect(all.code).toBe(0);
    expect(all.stdout).toMatch(/for \d file\(s\)/);
    expect((await ferry(['restore', `s3://${bucket}/cold`], moto.env)).code).toBe(5);
    const warm = await ferry(['restore', `s3://${bucket}/warm.txt`], moto.env);
    expect(warm.code).toBe(2);
    expect(warm.stderr).toMatch(/not archived/);
    expect((await ferry(['restore', '--tier', 'fast', `s3://${bucket}/cold/b.bin`], moto.env)).code).toBe(2);
    expect((await ferry(['restore', '--days', '0', `s3://${bucket}/cold/b.bin`], moto.env)).code).toBe(2);
  });
});
