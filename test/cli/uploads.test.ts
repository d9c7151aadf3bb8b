import { randomBytes } from 'node:crypto';
import {
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteBucketCommand,
  GetBucketLifecycleConfigurationCommand,
  ListMultipartUploadsCommand,
  PutBucketLifecycleConfigurationCommand,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Client } from '../../src/s3/client.js';
import { FERRY_ABORT_RULE_ID } from '../../src/s3/lifecycle.js';
import { ferry, requireBuiltCli } from '../support/cli.js';
import { ensureBucket, testConnection, testS3 } from '../support/s3.js';
import { suiteFixture } from '../support/suite.js';

const MiB = 1024 * 1024;

describe('ferry uploads ls / abort (real S3 server)', () => {
  const conn = testConnection();
  let client: S3Client;
  const url = (k = '') => `s3://${conn.bucket}/${conn.prefix}${k ? `/${k}` : ''}`;

  async function startUpload(name: string, partBytes: number[]): Promise<string> {
    const Key = `${conn.prefix}/${name}`;
    const res = await client.send(new CreateMultipartUploadCommand({ Bucket: conn.bucket, Key }));
    for (const [i, n] of partBytes.entries()) {
      await client.send(
        new UploadPartCommand({
          Bucket: conn.bucket,
          Key,
          UploadId: res.UploadId,
          PartNumber: i + 1,
          Body: randomBytes(n),
        }),
      );
    }
    return res.UploadId!;
  }
  const open = async () =>
    (await client.send(new ListMultipartUploadsCommand({ Bucket: conn.bucket, Prefix: `${conn.prefix}/` })))
      .Uploads ?? [];

  beforeAll(async () => {
    client = createS3Client(conn);
    await ensureBucket(client, conn.bucket);
    await requireBuiltCli();
  });
  afterAll(() => client?.destroy());

  it('lists nothing for a prefix without unfinished uploads', async () => {
    const res = await ferry(['uploads', 'ls', url()]);
    expect(res).toMatchObject({ code: 0, stdout: '' });
  });

  it('lists key, start, parts, bytes and a cost estimate; aborts one, then all', async () => {
    const a = await startUpload('a/one.bin', [5 * MiB, 1000]);
    const b = await startUpload('b/two.bin', [5 * MiB]);
    const json = await ferry(['uploads', 'ls', url(), '--json']);
    expect(json.code).toBe(0);
    const rows = json.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(rows).toHaveLength(2);
    const one = rows.find((r) => r.uploadId === a);
    expect(one).toMatchObject({ key: `${conn.prefix}/a/one.bin`, parts: 2, bytes: 5 * MiB + 1000 });
    expect(one.monthlyCostUsd).toBeGreaterThan(0);
    expect(Date.parse(one.started)).toBeGreaterThan(Date.now() - 3600_000);

    const table = await ferry(['uploads', 'ls', url('a')]);
    expect(table.stdout).toContain('one.bin');
    expect(table.stdout).not.toContain('two.bin');
    expect(table.stderr).toMatch(/1 unfinished upload/);

    // Nothing chosen: refuses rather than aborting everything.
    expect((await ferry(['uploads', 'abort', url()])).code).toBe(2);
    const one1 = await ferry(['uploads', 'abort', url('a/one.bin'), '--upload-id', a]);
    expect(one1.code).toBe(0);
    expect((await open()).map((u) => u.UploadId)).toEqual([b]);
    expect((await ferry(['uploads', 'abort', url('a/one.bin'), '--upload-id', a])).code).toBe(3);

    // --older-than keeps young uploads; --all takes them.
    await ferry(['uploads', 'abort', url(), '--older-than', '1d']);
    expect(await open()).toHaveLength(1);
    const all = await ferry(['uploads', 'abort', url(), '--all']);
    expect(all.stdout).toContain('two.bin');
    expect(await open()).toHaveLength(0);
  });
});

// Lifecycle rules are tested on stores that have them; on a store without (Swift) Ferry's answer
// is tested instead. The other describe is not registered at all (nothing shows as skipped).
const lifecycle = testS3().supports.lifecycle;
const withLifecycle = lifecycle ? describe : (_name: string, _fn: () => void) => {};
const withoutLifecycle = lifecycle ? (_name: string, _fn: () => void) => {} : describe;

/** A describe block's own bucket (lifecycle rules are bucket-wide), made before and deleted after. */
function ownBucket(bucket: string) {
  return suiteFixture(async () => {
    const client = createS3Client(testConnection({ bucket }));
    try {
      await client.send(new CreateBucketCommand({ Bucket: bucket }));
      await requireBuiltCli();
    } catch (err) {
      client.destroy();
      throw err;
    }
    return {
      client,
      close: async () => {
        await client.send(new DeleteBucketCommand({ Bucket: bucket })).catch(() => {});
        client.destroy();
      },
    };
  });
}

withLifecycle('ferry lifecycle abort-incomplete (own bucket: lifecycle is bucket-wide)', () => {
  const bucket = `ferry-lc-${randomBytes(4).toString('hex')}`;
  const own = ownBucket(bucket);
  const rules = async () =>
    (await own.client.send(new GetBucketLifecycleConfigurationCommand({ Bucket: bucket }))).Rules ?? [];

  it('adds the rule beside the existing ones, then finds it, then tightens only its own', async () => {
    await own.client.send(
      new PutBucketLifecycleConfigurationCommand({
        Bucket: bucket,
        LifecycleConfiguration: {
          Rules: [
            { ID: 'expire-logs', Status: 'Enabled', Filter: { Prefix: 'logs/' }, Expiration: { Days: 30 } },
          ],
        },
      }),
    );
    const dry = await ferry([
      'lifecycle',
      'abort-incomplete',
      `s3://${bucket}`,
      '--days',
      '7',
      '--dry-run',
      '--json',
    ]);
    expect(JSON.parse(dry.stdout)).toMatchObject({ status: 'missing' });
    expect(await rules()).toHaveLength(1);

    const add = await ferry(['lifecycle', 'abort-incomplete', `s3://${bucket}`, '--days', '7', '--json']);
    expect(JSON.parse(add.stdout)).toMatchObject({ status: 'added', days: 7, rules: 2 });
    const after = await rules();
    expect(after.find((r) => r.ID === 'expire-logs')).toMatchObject({ Expiration: { Days: 30 } });
    expect(after.find((r) => r.ID === FERRY_ABORT_RULE_ID)).toMatchObject({
      AbortIncompleteMultipartUpload: { DaysAfterInitiation: 7 },
    });

    const again = await ferry(['lifecycle', 'abort-incomplete', `s3://${bucket}`, '--days', '10', '--json']);
    expect(JSON.parse(again.stdout)).toMatchObject({ status: 'present', days: 7 });

    const tighter = await ferry(['lifecycle', 'abort-incomplete', `s3://${bucket}`, '--days', '3', '--json']);
    expect(JSON.parse(tighter.stdout)).toMatchObject({ status: 'updated', days: 3, rules: 2 });
    const last = await rules();
    expect(last).toHaveLength(2);
    expect(
      last.find((r) => r.ID === FERRY_ABORT_RULE_ID)?.AbortIncompleteMultipartUpload?.DaysAfterInitiation,
    ).toBe(3);
    expect(last.find((r) => r.ID === 'expire-logs')).toBeDefined();
  });

  it('refuses a bad day count with a usage error', async () => {
    const res = await ferry(['lifecycle', 'abort-incomplete', `s3://${bucket}`, '--days', '0']);
    expect(res.code).toBe(2);
  });
});

withoutLifecycle('ferry lifecycle abort-incomplete on a store without lifecycle rules', () => {
  const bucket = `ferry-lc-${randomBytes(4).toString('hex')}`;
  ownBucket(bucket);

  it('says so (NotSupported: exit 1, not "retry"), for a dry run too, and points at uploads abort', async () => {
    for (const extra of [[], ['--dry-run'], ['--json']]) {
      const res = await ferry(['lifecycle', 'abort-incomplete', `s3://${bucket}`, '--days', '7', ...extra]);
      expect(res.code).toBe(1);
      expect(res.stdout).toBe('');
      expect(res.stderr).toContain(`s3://${bucket}`);
      expect(res.stderr).toMatch(/does not support bucket lifecycle rules/);
      expect(res.stderr).toContain('ferry uploads abort');
    }
  });
});
