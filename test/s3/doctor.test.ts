import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  ListObjectsV2Command,
  PutBucketPolicyCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Client } from '../../src/s3/client.js';
import { parseConnection, type S3ConnectionInput } from '../../src/s3/connection.js';
import { doctorExitCode, policyFor, runDoctor } from '../../src/s3/doctor.js';
import { startImds } from '../support/imds-server.js';
import { type Loopback, startHeaderProxy, startLoopback } from '../support/loopback.js';
import { testS3 } from '../support/s3.js';

const suffix = randomBytes(3).toString('hex');
const buckets = {
  ro: `ferry-i3-ro-${suffix}`,
  ao: `ferry-i3-ao-${suffix}`,
  none: `ferry-i3-none-${suffix}`,
  full: `ferry-i3-full-${suffix}`,
  /** Empty, read-only for test2 (defect 11): nothing to read, yet reads are allowed. */
  roEmpty: `ferry-i7-roe-${suffix}`,
  /** Empty, list-only for test2: the missing-key GET must then be refused. */
  listOnly: `ferry-i7-lo-${suffix}`,
};
const TEST2 = 'arn:aws:iam:::user/test2'; // RGW's second user: only what a bucket policy grants
let admin: S3Client;
const servers: Loopback[] = [];

const env = (): NodeJS.ProcessEnv => ({
  HOME: mkdtempSync(join(tmpdir(), 'ferry-home-')),
  AWS_EC2_METADATA_SERVICE_ENDPOINT: 'http://127.0.0.1:9',
});
const test2 = () => ({
  accessKeyId: `${testS3().accessKeyId}2`,
  secretAccessKey: `${testS3().secretAccessKey}2`,
});
const test1 = () => ({ accessKeyId: testS3().accessKeyId, secretAccessKey: testS3().secretAccessKey });

function conn(bucket: string, extra: Partial<S3ConnectionInput> = {}) {
  return parseConnection({
    bucket,
    prefix: 'drop',
    endpoint: testS3().endpoint,
    region: 'us-east-1',
    ...extra,
  });
}

function grant(bucket: string, actions: string[]) {
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Principal: { AWS: [TEST2] },
        Action: actions,
        Resource: [`arn:aws:s3:::${bucket}`, `arn:aws:s3:::${bucket}/*`],
      },
    ],
  });
}

beforeAll(async () => {
  admin = createS3Client(
    parseConnection({ bucket: 'ferry-test', endpoint: testS3().endpoint, region: 'us-east-1', ...test1() }),
  );
  for (const b of Object.values(buckets)) await admin.send(new CreateBucketCommand({ Bucket: b }));
  await admin.send(new PutObjectCommand({ Bucket: buckets.ro, Key: 'drop/existing.txt', Body: 'data' }));
  await admin.send(
    new PutBucketPolicyCommand({
      Bucket: buckets.ro,
      Policy: grant(buckets.ro, ['s3:GetObject', 's3:ListBucket', 's3:GetBucketLocation']),
    }),
  );
  await admin.send(
    new PutBucketPolicyCommand({
      Bucket: buckets.roEmpty,
      Policy: grant(buckets.roEmpty, ['s3:GetObject', 's3:ListBucket', 's3:GetBucketLocation']),
    }),
  );
  await admin.send(
    new PutBucketPolicyCommand({
      Bucket: buckets.listOnly,
      Policy: grant(buckets.listOnly, ['s3:ListBucket', 's3:GetBucketLocation']),
    }),
  );
  await admin.send(
    new PutBucketPolicyCommand({
      Bucket: buckets.ao,
      Policy: grant(buckets.ao, [
        's3:PutObject',
        's3:GetObject',
        's3:ListBucket',
        's3:GetBucketLocation',
        's3:ListBucketMultipartUploads',
        's3:AbortMultipartUpload',
      ]),
    }),
  );
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  for (const b of Object.values(buckets)) {
    const list = await admin.send(new ListObjectsV2Command({ Bucket: b }));
    for (const o of list.Contents ?? [])
      await admin.send(new DeleteObjectCommand({ Bucket: b, Key: o.Key! }));
    await admin.send(new DeleteBucketCommand({ Bucket: b }));
  }
  admin.destroy();
});

const status = (r: Awaited<ReturnType<typeof runDoctor>>, op: string) =>
  r.checks.filter((c) => c.operation === op).map((c) => c.status);

describe('ferry doctor on RGW with bucket policies', () => {
  it('full user: everything works, nothing refused, test objects removed', async () => {
    const r = await runDoctor(conn(buckets.full, test1()), env());
    expect(r.access).toBe('full');
    expect(r.refused).toEqual([]);
    expect(r.credentials.source).toBe('static');
    expect(r.store.listObjectsV2).toBe(true);
    expect(r.store.multipartCopy).toBe(true);
    expect(r.store.checksumTrailers).toBe(false); // RGW answers 411 to aws-chunked uploads
    expect(r.store.versioning).toBe('Off');
    expect(r.addressing).toMatchObject({
      used: 'path',
      works: true,
      other: { style: 'virtual-host', works: false },
    });
    expect(doctorExitCode(r)).toBe(0);
    const left = await admin.send(new ListObjectsV2Command({ Bucket: buckets.full }));
    expect(left.KeyCount).toBe(0);
  });

  it('read-only user: reported as read-only (not broken), with the IAM action to grant for writing', async () => {
    const r = await runDoctor(conn(buckets.ro, test2()), env());
    expect(r.access).toBe('read-only');
    expect(status(r, 'PutObject')).toContain('denied');
    expect(status(r, 'GetObject')).toEqual(['ok']);
    expect(r.refused).toContain('s3:PutObject');
    expect(JSON.stringify(r.policy)).toContain(`arn:aws:s3:::${buckets.ro}/drop/*`);
    expect(doctorExitCode(r)).toBe(0);
  });

  it('read-only user on an EMPTY bucket: a GET of a missing key (404) shows reads are allowed', async () => {
    const r = await runDoctor(conn(buckets.roEmpty, test2()), env());
    expect(r.access).toBe('read-only');
    expect(status(r, 'GetObject')).toEqual(['ok']);
    expect(r.checks.find((c) => c.operation === 'GetObject')?.detail).toMatch(/NoSuchKey/);
    expect(r.accessNote).toMatch(/missing key/);
    expect(r.refused).toContain('s3:PutObject');
    expect(r.refused).not.toContain('s3:GetObject');
    expect(doctorExitCode(r)).toBe(0);
  });

  it('list-only user on an empty bucket: RGW answers the missing-key GET with 404 too, and doctor says it is not proof', async () => {
    // Measured: RGW looks the key up before it checks GetObject, and answers 404 to anyone who
    // may list. So on RGW (unlike AWS) this user is indistinguishable from a reader: the report
    // must not claim more than it knows.
    const r = await runDoctor(conn(buckets.listOnly, test2()), env());
    const read = r.checks.find((c) => c.operation === 'GetObject');
    expect(read?.detail).toMatch(/not proof|to be sure/);
    expect(r.accessNote).toMatch(/not proven/);
    expect(r.refused).toContain('s3:PutObject');
  });

  it('append-only user: writes and reads, delete refused → append-only, s3:DeleteObject named', async () => {
    const r = await runDoctor(conn(buckets.ao, test2()), env());
    expect(r.access).toBe('append-only');
    expect(status(r, 'DeleteObject')).toContain('denied');
    expect(r.refused).toContain('s3:DeleteObject');
    expect(r.accessNote).toMatch(/not broken/);
    expect(doctorExitCode(r)).toBe(0);
  });

  it('user without rights: no access, every action named, exit code 4', async () => {
    const r = await runDoctor(conn(buckets.none, test2()), env());
    expect(r.access).toBe('no-access');
    expect(r.refused).toEqual(
      expect.arrayContaining(['s3:ListBucket', 's3:PutObject', 's3:ListBucketMultipartUploads']),
    );
    const statements = (r.policy as { Statement: { Action: string[]; Resource: string }[] }).Statement;
    const bucketLevel = statements
      .filter((s) => s.Resource === `arn:aws:s3:::${buckets.none}`)
      .flatMap((s) => s.Action);
    expect(bucketLevel).toEqual(expect.arrayContaining(['s3:ListBucket', 's3:GetBucketLocation']));
    expect(statements.find((s) => s.Action.includes('s3:GetBucketLocation'))).not.toHaveProperty('Condition');
    expect(doctorExitCode(r)).toBe(4);
  });

  it('assumed role on the STS gateway: source, temporary key and expiry reported', async () => {
    const sts = testS3().stsEndpoint;
    const r = await runDoctor(
      conn(buckets.full, {
        ...test1(),
        endpoint: sts,
        stsEndpoint: sts,
        roleArn: 'arn:aws:iam:::role/S3Access',
      }),
      env(),
    );
    expect(r.credentials.source).toBe('static+assume-role');
    expect(new Date(r.credentials.expiration!).getTime()).toBeGreaterThan(Date.now());
    expect(r.access).toBe('full');
    // RGW 16 refuses UploadPartCopy to role sessions (CopyObject works): reported, not hidden.
    if (status(r, 'UploadPartCopy').includes('denied'))
      expect(r.problems.join('\n')).toMatch(/UploadPartCopy was refused/);
  });
});

describe('ferry doctor names the classic traps', () => {
  it('encryption the store accepts but ignores (RGW 16 and SSE-S3); SSE-C it really applies', async () => {
    const r = await runDoctor(conn(buckets.full, { ...test1(), sse: 'AES256' }), env());
    expect(r.problems.join('\n')).toMatch(/encryption ignored: .*AES256/);
    const c = await runDoctor(conn(buckets.full, { ...test1(), sseCustomerKey: 'k'.repeat(32) }), env());
    expect(c.problems.join('\n')).not.toMatch(/encryption ignored/);
    expect(status(c, 'HeadObject')).toEqual(['ok']);
  });

  it('an endpoint that is not S3', async () => {
    const web = await startLoopback((_req, res) =>
      res.writeHead(404, { 'content-type': 'text/html' }).end('<html><body>console</body></html>'),
    );
    servers.push(web);
    const r = await runDoctor(conn(buckets.full, { ...test1(), endpoint: web.url }), env());
    expect(r.problems.join('\n')).toMatch(/does not answer like S3/);
    expect(doctorExitCode(r)).not.toBe(0);
  });

  it('clock skew, from the store’s Date header', async () => {
    const proxy = await startHeaderProxy(testS3().endpoint, (h) => ({
      ...h,
      date: new Date(Date.now() - 3600_000).toUTCString(),
    }));
    servers.push(proxy);
    const r = await runDoctor(conn(buckets.full, { ...test1(), endpoint: proxy.url }), env());
    expect(r.problems.join('\n')).toMatch(/clock skew: this machine is 3[56]\d\d s ahead/);
  });

  it('wrong region, from x-amz-bucket-region', async () => {
    const proxy = await startHeaderProxy(testS3().endpoint, (h) => ({
      ...h,
      'x-amz-bucket-region': 'eu-central-1',
    }));
    servers.push(proxy);
    const r = await runDoctor(conn(buckets.full, { ...test1(), endpoint: proxy.url }), env());
    expect(r.problems.join('\n')).toMatch(/wrong region: the bucket is in eu-central-1/);
    expect(r.recommendations).toContain('--region eu-central-1');
  });

  it('the IMDSv2 hop-limit trap', async () => {
    const imds = await startImds({ mint: async () => test1(), hangTokenPut: true });
    servers.push(imds);
    const r = await runDoctor(
      conn(buckets.full, { credentialSource: 'imds', imdsEndpoint: imds.url }),
      env(),
      { imds: { timeoutMs: 300 } },
    );
    expect(r.credentials.error).toMatch(/hop limit/);
    expect(doctorExitCode(r)).toBe(4);
  });
});

describe('policyFor', () => {
  it('splits bucket-level and object-level actions, with the prefix', () => {
    expect(policyFor('b', 'p/', ['s3:ListBucket', 's3:PutObject (and s3:GetObject on the source)'])).toEqual({
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Action: ['s3:ListBucket'],
          Resource: 'arn:aws:s3:::b',
          Condition: { StringLike: { 's3:prefix': ['p/*', 'p/'] } },
        },
        { Effect: 'Allow', Action: ['s3:GetObject', 's3:PutObject'], Resource: 'arn:aws:s3:::b/p/*' },
      ],
    });
  });
});
