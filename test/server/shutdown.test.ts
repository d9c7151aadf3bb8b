import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Client } from '../../src/s3/client.js';
import { cliEnv, ferry, requireBuiltCli } from '../support/cli.js';
import { credentialUrl, ensureBucket, TEST_BUCKET, testConnection, testS3 } from '../support/s3.js';
import { ferryWithInput, ServeProcess, serverEnv } from './serve-process.js';

const run = promisify(execFile);
const SIZE = 40 * 1024 * 1024; // above the 16 MiB multipart threshold: every upload is multipart

/**
 * The SIGTERM "must show": 10 concurrent uploads through the file API (curl), SIGTERM
 * while they run; afterwards every object is complete (the whole bytes) or absent, and no
 * multipart upload is left (`ferry uploads ls` and the SDK).
 */
describe('SIGTERM during 10 concurrent uploads', () => {
  let dir: string;
  let server: ServeProcess;
  let url: string;
  let client: S3Client;
  const prefix = `t-sigterm-${randomBytes(4).toString('hex')}`;

  beforeAll(async () => {
    await requireBuiltCli();
    client = createS3Client(testConnection({ prefix: '' }));
    await ensureBucket(client);
    dir = mkdtempSync(join(tmpdir(), 'ferry-sigterm-'));
    const s3 = testS3();
    const storage = credentialUrl(
      { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
      `${TEST_BUCKET}/${prefix}`,
    );
    const env = serverEnv();
    server = new ServeProcess(
      ['--http', '127.0.0.1:0', '--storage', storage, '--shutdown-grace-seconds', '2'],
      { cwd: dir, env },
    );
    url = await server.httpUrl();
    expect(server.stdout).toContain('the default storage as the connection "default"');
    const add = await ferryWithInput(
      ['user', 'add', 'dave', '--password-stdin'],
      'dave-password-1\n',
      env,
      dir,
    );
    expect(add.stderr).toBe('');
    expect(add.code).toBe(0);
  });
  afterAll(async () => {
    await server?.close();
  });

  it('leaves every object complete or absent and no unfinished multipart upload', async () => {
    const body = randomBytes(SIZE);
    const file = join(dir, 'big.bin');
    writeFileSync(file, body);
    const sha = createHash('sha256').update(body).digest('hex');
    // Three fast uploads (likely done within the grace period) and seven slow ones (aborted).
    const uploads = Array.from({ length: 10 }, (_, i) =>
      run('curl', [
        '-sS',
        '-w',
        '\n%{http_code}',
        '-u',
        'dave:dave-password-1',
        '--limit-rate',
        i < 3 ? '20M' : '1M',
        '-T',
        file,
        `${url}/api/v1/user/files/content?path=/up-${i}.bin`,
      ]).then(
        (r) => r.stdout.replace(/\n(\d+)$/, ' $1'),
        (err: { stdout?: string; code?: number }) => `curl exit ${err.code} ${err.stdout ?? ''}`,
      ),
    );
    // SIGTERM once S3 shows the uploads under way.
    const listUploads = async () =>
      (await client.send(new ListMultipartUploadsCommand({ Bucket: TEST_BUCKET, Prefix: `${prefix}/` })))
        .Uploads ?? [];
    for (let i = 0; (await listUploads()).length < 7; i++) {
      if (i > 600) throw new Error('the uploads never started');
      await new Promise((r) => setTimeout(r, 100));
    }
    server.child.kill('SIGTERM');
    const exit = await server.exited;
    const outcomes = await Promise.all(uploads);
    expect(exit.code, server.stderr).toBe(0);

    const complete: number[] = [];
    const absent: number[] = [];
    for (let i = 0; i < 10; i++) {
      const key = `${prefix}/dave/up-${i}.bin`;
      try {
        const head = await client.send(new HeadObjectCommand({ Bucket: TEST_BUCKET, Key: key }));
        expect(head.ContentLength, key).toBe(SIZE);
        const got = await client.send(new GetObjectCommand({ Bucket: TEST_BUCKET, Key: key }));
        const bytes = Buffer.from(
          await (got.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray(),
        );
        expect(createHash('sha256').update(bytes).digest('hex'), key).toBe(sha);
        complete.push(i);
      } catch (err) {
        if ((err as { name?: string }).name !== 'NotFound') throw err;
        absent.push(i);
      }
    }
    // What curl was told agrees with what is in S3: 201 only for complete objects.
    for (let i = 0; i < 10; i++) {
      if (outcomes[i]?.endsWith(' 201')) expect(complete, `upload ${i} answered 201`).toContain(i);
    }
    // An upload cut off by the shutdown is a server condition, not bad input: 503 (retry later).
    for (const i of absent) {
      const status = /(\d{3})$/.exec(outcomes[i] ?? '')?.[1];
      if (status && status !== '000') expect(`${i}: ${outcomes[i]}`).toMatch(/ 503$/);
    }
    expect(complete.length + absent.length).toBe(10);
    console.log(
      `SIGTERM during 10 uploads: complete ${complete.join(',') || '-'}; absent ${absent.join(',') || '-'}; curl: ${outcomes.join(' | ')}`,
    );
    expect(await listUploads()).toEqual([]);
    const ls = await ferry(['uploads', 'ls', `s3://${TEST_BUCKET}/${prefix}/`], cliEnv());
    expect(ls.code).toBe(0);
    expect(ls.stdout.trim()).toBe('');
  });

  it('a second signal exits at once, without waiting for the grace period', async () => {
    const slow = new ServeProcess(['--http', '127.0.0.1:0', '--shutdown-grace-seconds', '600'], {
      cwd: dir,
      env: serverEnv(),
    });
    try {
      const slowUrl = await slow.httpUrl();
      const file = join(dir, 'slow.bin');
      writeFileSync(file, randomBytes(8 * 1024 * 1024));
      // An upload at 256 KiB/s holds the first shutdown in its 600 s grace period.
      const upload = run('curl', [
        '-sS',
        '-u',
        'dave:dave-password-1',
        '--limit-rate',
        '256K',
        '-T',
        file,
        `${slowUrl}/api/v1/user/files/content?path=/slow.bin`,
      ]).catch(() => undefined);
      await new Promise((r) => setTimeout(r, 1500));
      slow.child.kill('SIGTERM');
      await slow.waitFor(/stopping: transfers have 600 s to finish/);
      slow.child.kill('SIGTERM');
      const exit = await slow.exited;
      expect(exit.code).toBe(143);
      expect(slow.stderr).toContain('SIGTERM again: exiting without cleaning up');
      await upload;
    } finally {
      await slow.close();
    }
  });
});
