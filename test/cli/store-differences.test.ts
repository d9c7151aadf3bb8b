import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HeadObjectCommand, ListMultipartUploadsCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Client } from '../../src/s3/client.js';
import { cliEnv, ferry, requireBuiltCli } from '../support/cli.js';
import { ensureBucket, testConnection, testS3 } from '../support/s3.js';

const MiB = 1024 * 1024;

/**
 * Where S3 implementations differ (found on Swift's s3api, run by the `swift` project), Ferry
 * must either do the job or say plainly why it cannot — never report success for what the store
 * did not do, never show a parser's error instead of the reason.
 */
describe('ferry where S3 stores differ (built CLI, real S3)', () => {
  const conn = testConnection();
  const url = (k: string) => `s3://${conn.bucket}/${conn.prefix}/${k}`;
  const multipart = ['--multipart-threshold', '5MiB', '--part-size', '5MiB'];
  let client: S3Client;
  let dir: string;

  beforeAll(async () => {
    client = createS3Client(conn);
    await ensureBucket(client, conn.bucket);
    dir = await fs.mkdtemp(join(tmpdir(), 'ferry-differ-'));
    await requireBuiltCli();
  });
  afterAll(async () => {
    client?.destroy();
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });
  const exists = (name: string) =>
    client.send(new HeadObjectCommand({ Bucket: conn.bucket, Key: `${conn.prefix}/${name}` })).then(
      () => true,
      (err: { $metadata?: { httpStatusCode?: number } }) => {
        if (err.$metadata?.httpStatusCode === 404) return false;
        throw err; // e.g. 400: the object is there, encrypted with a customer key
      },
    );
  const openUploads = async () =>
    (await client.send(new ListMultipartUploadsCommand({ Bucket: conn.bucket, Prefix: `${conn.prefix}/` })))
      .Uploads ?? [];

  it('cp --sse-c-key: encrypted by the store, or a loud failure leaving no plaintext behind', async () => {
    const key = randomBytes(32).toString('base64');
    const small = join(dir, 'small.bin');
    const big = join(dir, 'big.bin');
    await fs.writeFile(small, randomBytes(1000));
    await fs.writeFile(big, randomBytes(11 * MiB));
    const put = await ferry(['cp', '--sse-c-key', key, small, url('small.bin')]);
    const mp = await ferry(['cp', '--sse-c-key', key, ...multipart, big, url('big.bin')]);
    if (testS3().supports.sseC) {
      expect(put).toMatchObject({ code: 0, stderr: '' });
      expect(mp).toMatchObject({ code: 0, stderr: '' });
      // Really encrypted: without the key the store refuses even a HEAD (400).
      await expect(exists('small.bin')).rejects.toMatchObject({ $metadata: { httpStatusCode: 400 } });
      await expect(exists('big.bin')).rejects.toMatchObject({ $metadata: { httpStatusCode: 400 } });
    } else {
      for (const res of [put, mp]) {
        expect(res.code).toBe(1); // NotSupported
        expect(res.stderr).toMatch(/did not apply SSE-C/);
        expect(res.stderr).toMatch(/nothing was kept/);
      }
      expect(await exists('small.bin')).toBe(false);
      expect(await exists('big.bin')).toBe(false);
    }
    expect(await openUploads()).toEqual([]);
  });

  it('a server-side copy of a multipart-uploaded object succeeds (a store refusing If-Match is noted)', async () => {
    const data = randomBytes(11 * MiB);
    const file = join(dir, 'mp-source.bin');
    await fs.writeFile(file, data);
    expect(await ferry(['cp', ...multipart, file, url('mp.bin')])).toMatchObject({ code: 0 });
    const head = await client.send(
      new HeadObjectCommand({ Bucket: conn.bucket, Key: `${conn.prefix}/mp.bin` }),
    );
    expect(head.ETag).toMatch(/-\d+"$/); // really a multipart object
    const copy = await ferry(['cp', '--multipart-copy-threshold', '5MiB', url('mp.bin'), url('mp-copy.bin')]);
    expect(copy.code).toBe(0);
    // Swift's s3api answers 412 to a correct If-Match on UploadPartCopy: Ferry re-checks the
    // source's ETag itself and says so; RGW honours the condition and nothing is said.
    if (testS3().server === 'swift') expect(copy.stderr).toMatch(/refused a correct If-Match/);
    else expect(copy.stderr).toBe('');
    const back = join(dir, 'mp-back.bin');
    expect(await ferry(['cp', url('mp-copy.bin'), back])).toMatchObject({ code: 0 });
    expect((await fs.readFile(back)).equals(data)).toBe(true);
    expect(await openUploads()).toEqual([]);
  });

  it('anonymous access refused: says so (access denied, exit 4), not a parser error or an SSE-C hint', async () => {
    await fs.writeFile(join(dir, 'anon.txt'), 'not public');
    expect(await ferry(['cp', join(dir, 'anon.txt'), url('anon.txt')])).toMatchObject({ code: 0 });
    const env = cliEnv({ AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '' });
    const cases = [
      ['ls', url('')],
      ['stat', url('anon.txt')],
      ['cat', url('anon.txt')],
      ['cp', url('anon.txt'), join(dir, 'anon-back.txt')],
      ['cp', join(dir, 'anon.txt'), url('anon-up.txt')],
    ];
    for (const args of cases) {
      const res = await ferry(['--credentials', 'anonymous', ...args], env);
      expect({ args, code: res.code }).toEqual({ args, code: 4 });
      expect(res.stderr).toMatch(/access denied: anonymous \(unsigned\) requests are not allowed/);
      expect(res.stderr).not.toMatch(/XML|parse|sse-c/i);
    }
    expect(await exists('anon-up.txt')).toBe(false);
  });
});
