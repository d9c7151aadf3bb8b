import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateBucketCommand,
  HeadObjectCommand,
  ListObjectVersionsCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Client } from '../../src/s3/client.js';
import { objectParamsFor } from '../../src/s3/object-params.js';
import { fileVersions } from '../../src/s3/versions.js';
import { forEachConcurrent } from '../../src/util/concurrency.js';
import { ferry, requireBuiltCli } from '../support/cli.js';
import { countOps } from '../support/count-ops.js';
import { testConnection } from '../support/s3.js';

/**
 * Issue 10 item 1 on RGW: `ferry versions ls|revert|rm`, `cat`/`cp --version-id`, `ls --versions`,
 * `bucket versioning`. A file's versions in a folder of 1,200 versions are listed in one request
 * (counted on the client), not by walking the folder.
 */
describe('versions', () => {
  const bucket = `ferry-ver-${randomBytes(4).toString('hex')}`;
  const conn = testConnection({ bucket, prefix: '' });
  let client: S3Client;
  const put = (key: string, body: string) =>
    client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
  const versionsOf = async (key: string) =>
    (await client.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: key }))).Versions?.filter(
      (v) => v.Key === key,
    ) ?? [];
  beforeAll(async () => {
    client = createS3Client(conn);
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
    await requireBuiltCli();
  });
  afterAll(async () => {
    await ferry(['rb', '-r', '--yes', `s3://${bucket}`]);
    client?.destroy();
  }, 300_000);

  it('bucket versioning on/status; versions ls, cat/cp --version-id, revert, rm of a delete marker (undelete)', async () => {
    expect((await ferry(['bucket', 'versioning', 'status', `s3://${bucket}`])).stdout).toMatch(
      /Never enabled/,
    );
    const on = await ferry(['bucket', 'versioning', 'on', `s3://${bucket}`]);
    expect(on.stdout).toMatch(/versioning Enabled/);
    for (const body of ['one', 'two', 'three']) await put('docs/f.txt', body);
    await put('docs/f.txt.bak', 'other key, same prefix');

    const ls = (await ferry(['versions', 'ls', '--json', `s3://${bucket}/docs/f.txt`])).stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { versionId: string; isLatest: boolean; key: string; size: number });
    expect(ls.map((v) => v.key)).toEqual(['docs/f.txt', 'docs/f.txt', 'docs/f.txt']);
    expect(ls.map((v) => v.isLatest)).toEqual([true, false, false]);
    const oldest = ls[2]!.versionId;
    expect((await ferry(['cat', '--version-id', oldest, `s3://${bucket}/docs/f.txt`])).stdout).toBe('one');
    const dir = await mkdtemp(join(tmpdir(), 'ferry-ver-'));
    expect((await ferry(['cp', '--version-id', oldest, `s3://${bucket}/docs/f.txt`, `${dir}/`])).code).toBe(
      0,
    );
    expect(await readFile(join(dir, 'f.txt'), 'utf8')).toBe('one');

    const revert = await ferry(['versions', 'revert', `s3://${bucket}/docs/f.txt`, oldest]);
    // Once (CI, RGW, load ~2) this exited 2 and the reason was not kept: show stderr when it fails.
    expect(revert, revert.stderr).toMatchObject({ code: 0 });
    expect((await ferry(['cat', `s3://${bucket}/docs/f.txt`])).stdout).toBe('one');
    expect(await versionsOf('docs/f.txt')).toHaveLength(4); // the revert is a new version; none lost

    expect((await ferry(['rm', `s3://${bucket}/docs/f.txt`])).code).toBe(0);
    await expect(client.send(new HeadObjectCommand({ Bucket: bucket, Key: 'docs/f.txt' }))).rejects.toThrow();
    const counts = (await ferry(['ls', '--versions', '--json', `s3://${bucket}/docs/`])).stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(counts).toContainEqual({ name: 'f.txt', versions: 4, deleted: true });
    const undelete = await ferry(['versions', 'rm', '--delete-markers', `s3://${bucket}/docs/f.txt`]);
    expect(undelete.code).toBe(0);
    expect((await ferry(['cat', `s3://${bucket}/docs/f.txt`])).stdout).toBe('one');
    expect((await ferry(['versions', 'rm', '--delete-markers', `s3://${bucket}/docs/f.txt`])).code).toBe(3);
  });

  it('refuses an unknown version and leaves everything', async () => {
    const before = await versionsOf('docs/f.txt');
    expect((await ferry(['versions', 'rm', `s3://${bucket}/docs/f.txt`, 'no-such-version'])).code).toBe(3);
    expect((await ferry(['versions', 'revert', `s3://${bucket}/docs/f.txt`, 'no-such-version'])).code).toBe(
      3,
    );
    expect(
      (await ferry(['cat', '--version-id', 'no-such-version', `s3://${bucket}/docs/f.txt`])).code,
    ).not.toBe(0);
    // RGW's version ids may begin with '-' (about 1 in 64): such an id is a version, not an option.
    const dashed = await ferry(['versions', 'revert', `s3://${bucket}/docs/f.txt`, '-No.such-version']);
    expect(dashed, dashed.stderr).toMatchObject({ code: 3 });
    expect(dashed.stderr).toMatch(/no version -No\.such-version/);
    const dashedRm = await ferry(['versions', 'rm', `s3://${bucket}/docs/f.txt`, '-No.such-version']);
    expect(dashedRm, dashedRm.stderr).toMatchObject({ code: 3 });
    expect(await versionsOf('docs/f.txt')).toHaveLength(before.length);
    expect((await ferry(['versions', 'ls', `s3://${bucket}/nothing`])).code).toBe(3);
  });

  it("a file's versions in a folder of 1,200 versions: one ListObjectVersions, not a walk", async () => {
    // 400 files × 3 versions: more than one 1,000-version page, so walking the folder to the file
    // near its end would take two requests.
    const keys = Array.from({ length: 400 }, (_, i) => `big/f${String(i).padStart(4, '0')}`);
    await forEachConcurrent(
      keys.flatMap((k) => [k, k, k]),
      32,
      async (k) => {
        await put(k, randomBytes(8).toString('hex'));
      },
    );
    const counted = createS3Client(conn);
    const ops = countOps(counted);
    const list = await fileVersions({ client: counted, bucket, params: objectParamsFor(conn) }, 'big/f0390');
    counted.destroy();
    expect(list).toHaveLength(3);
    expect(ops).toEqual(['ListObjectVersionsCommand']);
  });
});
