import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  GetObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  type S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Client } from '../../src/s3/client.js';
import { parseConnection } from '../../src/s3/connection.js';
import { stringToSignV2 } from '../../src/s3/sigv2.js';
import { cliEnv, ferry, requireBuiltCli } from '../support/cli.js';
import { startTestProxy, type TestProxy } from '../support/http-proxy.js';
import { ensureBucket, testConnection } from '../support/s3.js';

const MiB = 1024 * 1024;

/**
 * Issue 10 item 8: AWS Signature V2 (`--signature-v2`) for legacy stores. Ceph RGW verifies V2
 * header signatures, so every operation below is checked by a real server; the requests go through
 * the counting proxy (test/support/http-proxy.ts), which records that each one was signed `AWS …`
 * (V2), not `AWS4-HMAC-SHA256`.
 */
describe('Signature V2 against RGW', () => {
  const conn = testConnection();
  const base = `s3://${conn.bucket}/${conn.prefix}`;
  const dir = mkdtempSync(join(tmpdir(), 'ferry-sigv2-'));
  const big = randomBytes(12 * MiB + 7);
  let client: S3Client;
  let proxy: TestProxy;
  const v2 = (args: string[], extra: Record<string, string> = {}) =>
    ferry(
      ['--signature-v2', '--proxy', proxy.url, ...args],
      cliEnv({ NO_PROXY: '', no_proxy: '', ...extra }),
    );

  beforeAll(async () => {
    client = createS3Client(conn);
    await ensureBucket(client, conn.bucket);
    await requireBuiltCli();
    proxy = await startTestProxy();
    writeFileSync(join(dir, 'big.bin'), big);
    writeFileSync(join(dir, 'odd.txt'), 'odd name\n');
  });
  afterAll(async () => {
    client?.destroy();
    await proxy?.close();
  });

  it('put (single and multipart), list, get, ACL get/set, versions, delete-objects: all V2, all accepted', async () => {
    const multipart = ['--multipart-threshold', '5MiB', '--part-size', '5MiB'];
    const up = await v2([...multipart, 'cp', join(dir, 'big.bin'), `${base}/v2/big.bin`]);
    expect(up.stderr).toBe('');
    expect(up.code).toBe(0);
    // A key with a space, +, &, = and a non-ASCII letter: the resource is signed as sent.
    const odd = 'a b+c&d=ü.txt';
    expect((await v2(['cp', join(dir, 'odd.txt'), `${base}/v2/${odd}`])).code).toBe(0);
    const ls = await v2(['ls', `${base}/v2/`]);
    expect(ls.code).toBe(0);
    expect(ls.stdout).toContain('big.bin');
    expect(ls.stdout).toContain(odd);
    expect((await v2(['cat', `${base}/v2/${odd}`])).stdout).toBe('odd name\n');
    const acl = await v2(['acl', 'set', '--canned', 'public-read', `${base}/v2/${odd}`]);
    expect(acl.code).toBe(0);
    const shown = await v2(['acl', 'show', `${base}/v2/${odd}`]);
    expect(shown.stdout).toMatch(/READ +group:all-users/);
    const versions = await v2(['versions', 'ls', `${base}/v2/big.bin`]);
    expect(versions.code).toBe(0);

    // The multipart upload's parts, its versionId=null read and the bytes, with V2 from the SDK.
    const signed = createS3Client(parseConnection({ ...conn, signature: 'v2' }));
    const got = await signed.send(
      new GetObjectCommand({ Bucket: conn.bucket, Key: `${conn.prefix}/v2/big.bin`, VersionId: 'null' }),
    );
    expect(Buffer.from(await got.Body!.transformToByteArray()).equals(big)).toBe(true);
    signed.destroy();

    const rm = await v2(['rm', '-r', `${base}/v2/`]);
    expect(rm.code).toBe(0);

    const seen = proxy.forwarded.map((f, i) => `${proxy.signatures[i]} ${f}`);
    expect(seen.filter((s) => !s.startsWith('AWS '))).toEqual([]);
    const has = (re: RegExp) => expect(seen.some((s) => re.test(s))).toBe(true);
    has(/^AWS POST \S+\?uploads/);
    has(/^AWS PUT \S+\?.*partNumber=\d+.*uploadId=|^AWS PUT \S+\?.*uploadId=.*partNumber=/);
    has(/^AWS POST \S+\?.*uploadId=/);
    has(/^AWS PUT \S+\?acl/);
    has(/^AWS GET \S+\?acl/);
    has(/^AWS GET \S+\?.*versions/);
    has(/^AWS POST \S+\?delete/);
    has(/^AWS GET \S+\?.*list-type=2/);

    const left = await client.send(
      new ListObjectsV2Command({ Bucket: conn.bucket, Prefix: `${conn.prefix}/v2/` }),
    );
    expect(left.KeyCount).toBe(0);
    const uploads = await client.send(
      new ListMultipartUploadsCommand({ Bucket: conn.bucket, Prefix: `${conn.prefix}/` }),
    );
    expect(uploads.Uploads ?? []).toEqual([]);
  });

  it('a wrong secret: RGW refuses the V2 signature, and the message says so', async () => {
    const r = await v2(['ls', `${base}/`], { AWS_SECRET_ACCESS_KEY: 'not-the-secret-key-of-this-user' });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/wrong secret key: the S3 store refused the request signature/);
    expect(proxy.signatures.at(-1)).toBe('AWS');
  });
});

describe('the V2 string to sign', () => {
  it("AWS's documented example (GET /photos/puppy.jpg on johnsmith, virtual-host)", () => {
    const s = stringToSignV2(
      {
        method: 'GET',
        protocol: 'https:',
        hostname: 'johnsmith.s3.amazonaws.com',
        path: '/photos/puppy.jpg',
        query: {},
        headers: { date: 'Tue, 27 Mar 2007 19:36:42 +0000' },
      },
      (h) => /^(.+)\.s3\./.exec(h)?.[1],
    );
    expect(s).toBe('GET\n\n\nTue, 27 Mar 2007 19:36:42 +0000\n/johnsmith/photos/puppy.jpg');
  });

  it('amz headers sorted and lower-cased; only sub-resources in the resource, sorted', () => {
    const s = stringToSignV2(
      {
        method: 'PUT',
        protocol: 'http:',
        hostname: '127.0.0.1',
        path: '/bkt/a%20b',
        query: { uploadId: 'U1', partNumber: '2', 'x-id': 'UploadPart' },
        headers: {
          'Content-Type': 'text/plain',
          'X-Amz-Meta-B': ' two ',
          'x-amz-date': 'D',
          'x-amz-meta-a': 'one',
          'content-md5': 'M',
        },
      },
      () => undefined,
    );
    expect(s).toBe(
      'PUT\nM\ntext/plain\n\nx-amz-date:D\nx-amz-meta-a:one\nx-amz-meta-b:two\n/bkt/a%20b?partNumber=2&uploadId=U1',
    );
  });
});
