import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  GetObjectAclCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Client } from '../../src/s3/client.js';
import { cliEnv, ferry, requireBuiltCli } from '../support/cli.js';
import { startFaultProxy } from '../support/fault-proxy.js';
import { ensureBucket, testConnection } from '../support/s3.js';

/**
 * Issue 10 item 4, "ACLs disabled" (Object Ownership BucketOwnerEnforced). No server we can run
 * enforces it: RGW has no Object Ownership, and moto_server 5.2.1 stores
 * PutBucketOwnershipControls but still accepts PutObjectAcl, PutBucketAcl and `x-amz-acl` on such
 * a bucket (checked by hand; its source never sends AccessControlListNotSupported). So the fault
 * proxy answers the ACL-setting requests with AWS's documented error (400
 * AccessControlListNotSupported, "The bucket does not allow ACLs") and forwards everything else to
 * the real RGW: this proves the message and that nothing changes, not the store's behaviour.
 */
describe('ACLs disabled on the bucket (AWS error injected in front of RGW)', () => {
  const conn = testConnection();
  const key = `${conn.prefix}/f.txt`;
  const dir = mkdtempSync(join(tmpdir(), 'ferry-acl-off-'));
  const aclOff = {
    error: { status: 400, code: 'AccessControlListNotSupported', message: 'The bucket does not allow ACLs' },
  };
  let client: S3Client;
  let proxy: Awaited<ReturnType<typeof startFaultProxy>>;
  const env = () => cliEnv({ AWS_ENDPOINT_URL: proxy.endpoint });
  beforeAll(async () => {
    client = createS3Client(conn);
    await ensureBucket(client, conn.bucket);
    await client.send(new PutObjectCommand({ Bucket: conn.bucket, Key: key, Body: 'acl off' }));
    writeFileSync(join(dir, 'up.txt'), 'upload\n');
    proxy = await startFaultProxy(conn.endpoint!, (r) =>
      (r.method === 'PUT' && r.url.searchParams.has('acl')) ||
      (r.op === 'PutObject' && r.url.pathname.endsWith('/with-acl.txt'))
        ? aclOff
        : 'pass',
    );
    await requireBuiltCli();
  });
  afterAll(async () => {
    client?.destroy();
    await proxy?.close();
  });

  it('acl set: says ACLs are disabled and to use a bucket policy; exit 1; the ACL is unchanged', async () => {
    const before = await client.send(new GetObjectAclCommand({ Bucket: conn.bucket, Key: key }));
    for (const how of [
      ['--canned', 'public-read'],
      ['--grant', 'read=group:all-users'],
    ]) {
      const r = await ferry(['acl', 'set', ...how, `s3://${conn.bucket}/${key}`], env());
      expect(r.stderr).toMatch(
        /ACLs are disabled on bucket ferry-test \(Object Ownership "bucket owner enforced"\): access is granted by bucket policy instead/,
      );
      expect(r.code).toBe(1); // NotSupported
    }
    expect(proxy.seen.filter((s) => s.url.searchParams.has('acl') && s.method === 'PUT').length).toBe(2);
    const after = await client.send(new GetObjectAclCommand({ Bucket: conn.bucket, Key: key }));
    expect(after.Grants).toEqual(before.Grants);
    // Reading the ACL still works (AWS answers GetObjectAcl with the owner's FULL_CONTROL).
    expect((await ferry(['acl', 'show', `s3://${conn.bucket}/${key}`], env())).code).toBe(0);
  });

  it('cp --acl into such a bucket: the same clear reason, and no object', async () => {
    const r = await ferry(
      ['--acl', 'public-read', 'cp', join(dir, 'up.txt'), `s3://${conn.bucket}/${conn.prefix}/with-acl.txt`],
      env(),
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /ACLs are disabled on bucket ferry-test .*drop --acl \(or the connection's acl setting\) and grant access by bucket policy/,
    );
    const left = await client.send(
      new ListObjectsV2Command({ Bucket: conn.bucket, Prefix: `${conn.prefix}/with-acl` }),
    );
    expect(left.KeyCount).toBe(0);
  });
});
