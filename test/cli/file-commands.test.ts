import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { aws } from '../support/aws-cli.js';
import { credentialUrl, secondUser, TEST_BUCKET, testS3, testS3Storage } from '../support/s3.js';

const bin = resolve(import.meta.dirname, '../../bin/ferry.js');

/** Run the built CLI as a user would. */
function ferry(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = { ...process.env, AWS_CA_BUNDLE: '' };
  return new Promise((done) => {
    execFile(process.execPath, [bin, ...args], { env, maxBuffer: 1 << 26 }, (err, stdout, stderr) => {
      done({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('ferry file commands (built CLI, real S3)', () => {
  let base: string;
  let local: string;
  let flags: string[];
  beforeAll(async () => {
    if (!existsSync(resolve(bin, '../../dist/cli/main.js')))
      throw new Error('dist/ is missing: run `npm run build` first');
    const { conn } = await testS3Storage();
    const s3 = (await import('../support/s3.js')).testS3();
    process.env.AWS_ACCESS_KEY_ID = s3.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = s3.secretAccessKey;
    flags = ['--endpoint', s3.endpoint, '--region', 'us-east-1'];
    base = `s3://${TEST_BUCKET}/${conn.prefix}`;
    local = await mkdtemp(join(tmpdir(), 'ferry-cli-'));
    await mkdir(join(local, 'tree/sub'), { recursive: true });
    await writeFile(join(local, 'tree/a.txt'), 'alpha');
    await writeFile(join(local, 'tree/sub/b c+d.txt'), 'bravo charlie');
  });

  it('cp -r local → S3, ls, ls -l -R, ls --json, stat, cat', async () => {
    expect(await ferry(...flags, 'cp', '-r', join(local, 'tree'), `${base}/up`)).toMatchObject({ code: 0 });
    expect((await ferry(...flags, 'ls', `${base}/up`)).stdout.split('\n').sort()).toEqual([
      '',
      'a.txt',
      'sub/',
    ]);
    const long = await ferry(...flags, 'ls', '-l', '-R', `${base}/up`);
    expect(long.stdout).toMatch(/^\s+5 {2}\d{4}-\d\d-\d\d \d\d:\d\d:\d\d {2}a\.txt$/m);
    expect(long.stdout).toMatch(/ sub\/b c\+d\.txt$/m);
    const json = (await ferry(...flags, 'ls', '--json', `${base}/up/sub`)).stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(json).toEqual([expect.objectContaining({ name: 'b c+d.txt', type: 'file', size: 13 })]);
    const st = JSON.parse((await ferry(...flags, 'stat', '--json', `${base}/up/a.txt`)).stdout);
    expect(st).toMatchObject({ type: 'file', size: 5 });
    expect((await ferry(...flags, 'cat', `${base}/up/sub/b c+d.txt`)).stdout).toBe('bravo charlie');
    expect(
      (await ferry(...flags, 'cat', '--offset', '6', '--length', '7', `${base}/up/sub/b c+d.txt`)).stdout,
    ).toBe('charlie');
  });

  it('keeps the local mtime on upload (X-Amz-Meta-Mtime) and brings it back on download', async () => {
    const file = join(local, 'old.txt');
    await writeFile(file, 'old');
    const { utimes, stat } = await import('node:fs/promises');
    await utimes(file, new Date('2011-11-11T11:11:11Z'), new Date('2011-11-11T11:11:11Z'));
    await ferry(...flags, 'cp', file, `${base}/old.txt`);
    const bucketPath = base.slice(`s3://${TEST_BUCKET}/`.length);
    const head = await aws('s3api', 'head-object', '--bucket', TEST_BUCKET, '--key', `${bucketPath}/old.txt`);
    expect(head.Metadata.mtime).toBe('1321009871');
    await ferry(...flags, 'cp', `${base}/old.txt`, join(local, 'back.txt'));
    expect((await stat(join(local, 'back.txt'))).mtime.toISOString()).toBe('2011-11-11T11:11:11.000Z');
  });

  it('cp S3 → S3 (server-side), S3 → local, mv folders, rm -r, mkdir, rmdir', async () => {
    expect(await ferry(...flags, 'cp', '-r', join(local, 'tree'), `${base}/src`)).toMatchObject({ code: 0 });
    expect(await ferry(...flags, 'cp', `${base}/src/a.txt`, `${base}/copy.txt`)).toMatchObject({ code: 0 });
    expect((await ferry(...flags, 'cat', `${base}/copy.txt`)).stdout).toBe('alpha');
    expect(await ferry(...flags, 'mv', `${base}/src`, `${base}/dst`)).toMatchObject({ code: 0 });
    expect(await ferry(...flags, 'ls', `${base}/src`)).toMatchObject({ code: 3 });
    expect(await ferry(...flags, 'cp', '-r', `${base}/dst`, join(local, 'down'))).toMatchObject({ code: 0 });
    expect(await readFile(join(local, 'down/sub/b c+d.txt'), 'utf8')).toBe('bravo charlie');
    // mv into an existing folder puts the source inside it, as mv(1) does.
    await ferry(...flags, 'mkdir', `${base}/box`);
    expect(await ferry(...flags, 'mv', `${base}/dst`, `${base}/box`)).toMatchObject({ code: 0 });
    expect((await ferry(...flags, 'ls', `${base}/box`)).stdout).toBe('dst/\n');
    expect(await ferry(...flags, 'rm', `${base}/box`)).toMatchObject({ code: 5 });
    expect(await ferry(...flags, 'rmdir', `${base}/box`)).toMatchObject({ code: 5 });
    expect(await ferry(...flags, 'rm', '-r', `${base}/box`)).toMatchObject({ code: 0 });
    expect(await ferry(...flags, 'ls', `${base}/box`)).toMatchObject({ code: 3 });
    expect(await ferry(...flags, 'mkdir', `${base}/e`)).toMatchObject({ code: 0 });
    expect(await ferry(...flags, 'mkdir', `${base}/e`)).toMatchObject({ code: 5 });
    expect(await ferry(...flags, 'mkdir', '-p', `${base}/e`)).toMatchObject({ code: 0 });
    expect(await ferry(...flags, 'rmdir', `${base}/e`)).toMatchObject({ code: 0 });
  });

  it('errors a user can act on, with distinct exit codes', async () => {
    const noKey = await ferry(...flags, 'cat', `${base}/nope.txt`);
    expect(noKey).toMatchObject({ code: 3 });
    expect(noKey.stderr).toContain(`no such file or folder: ${base}/nope.txt`);
    const noBucket = await ferry(...flags, 'ls', 's3://no-such-bucket-ferry/');
    expect(noBucket).toMatchObject({ code: 3 });
    expect(noBucket.stderr).toContain('no such bucket: no-such-bucket-ferry');
    // One slash too many names no bucket: an error, not the list of buckets.
    const tripleSlash = await ferry(...flags, 'ls', `s3:///${TEST_BUCKET}/x`);
    expect(tripleSlash).toMatchObject({ code: 2, stdout: '' });
    expect(tripleSlash.stderr).toContain(`no bucket in s3:///${TEST_BUCKET}/x`);
    const unreachable = await ferry('--endpoint', 'http://127.0.0.1:9', 'ls', `${base}/`);
    expect(unreachable.code).toBe(6);
    expect(unreachable.stderr).toContain('S3 endpoint unreachable (ECONNREFUSED)');
    // The second identity, key and secret URL-encoded (Swift's key is `test:tester2`).
    const other = secondUser();
    const auth = `${encodeURIComponent(other.accessKeyId)}:${encodeURIComponent(other.secretAccessKey)}`;
    const denied = await ferry(
      ...flags,
      'ls',
      `s3://${auth}@${testS3().endpoint.replace(/^http:\/\//, '')}/${TEST_BUCKET}/`,
    );
    // The URL's host is HTTPS by default; plain HTTP needs s3+http:// — which is what this test uses next.
    expect(denied.code).not.toBe(0);
    const denied2 = await ferry('ls', credentialUrl(other, `${TEST_BUCKET}/`));
    expect(denied2.code).toBe(4);
    expect(denied2.stderr).toContain('access denied: ListObjectsV2');
    expect(denied2.stderr).toContain('s3:ListBucket');
    expect(await ferry(...flags, 'cp', `${base}/x`)).toMatchObject({ code: 2 });
    const intoItself = await ferry(...flags, 'cp', '-r', `${base}/up`, `${base}/up/inner`);
    expect(intoItself.code).toBe(2);
    expect(intoItself.stderr).toContain('into itself');
    expect(await ferry(...flags, 'frobnicate')).toMatchObject({ code: 2 });
  });
});
