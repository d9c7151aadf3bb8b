import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { aws } from '../support/aws-cli.js';
import { TEST_BUCKET, testS3, testS3Storage } from '../support/s3.js';

const bin = resolve(import.meta.dirname, '../../bin/ferry.js');

function ferry(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = { ...process.env, AWS_CA_BUNDLE: '' };
  return new Promise((done) => {
    execFile(process.execPath, [bin, ...args], { env }, (err, stdout, stderr) => {
      done({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** Issue 7 defects 4 and 5 as a user meets them: `cp` onto a file's name, folders that vanish. */
// Each test runs about ten CLI processes: a few seconds each on a busy machine, hence the timeouts.
describe('ferry on S3 folders (built CLI, real S3)', () => {
  let base: string;
  let prefix: string;
  let flags: string[];
  let local: string;
  beforeAll(async () => {
    const { conn } = await testS3Storage();
    const s3 = testS3();
    process.env.AWS_ACCESS_KEY_ID = s3.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = s3.secretAccessKey;
    flags = ['--endpoint', s3.endpoint, '--region', 'us-east-1'];
    prefix = conn.prefix;
    base = `s3://${TEST_BUCKET}/${conn.prefix}`;
    local = await mkdtemp(join(tmpdir(), 'ferry-folders-'));
    await writeFile(join(local, 'a.txt'), 'alpha');
  });

  it('cp refuses a file under a file and a file over a folder; ls shows one entry per name', async () => {
    expect(await ferry(...flags, 'cp', join(local, 'a.txt'), `${base}/f`)).toMatchObject({ code: 0 });
    const under = await ferry(...flags, 'cp', join(local, 'a.txt'), `${base}/f/under.txt`);
    expect(under.code).toBe(5);
    expect(under.stderr).toContain('not a folder');
    expect(await ferry(...flags, 'cp', join(local, 'a.txt'), `${base}/d/in.txt`)).toMatchObject({ code: 0 });
    // `cp a.txt s3://…/d` puts it inside the folder (as cp(1) does); a server-side copy onto the
    // folder's own name is what must be refused.
    const over = await ferry(...flags, 'cp', `${base}/f`, `${base}/d/in.txt/x`);
    expect(over.code).toBe(5);
    expect(await ferry(...flags, 'mkdir', `${base}/f/sub`)).toMatchObject({ code: 5 });
    expect((await ferry(...flags, 'ls', base)).stdout.split('\n').sort()).toEqual(['', 'd/', 'f']);
  }, 180_000);

  it('mkdir -p then rmdir of the deepest leaves the parents; emptied folders stay; ls -l dates marked folders', async () => {
    expect(await ferry(...flags, 'mkdir', '-p', `${base}/x/y/z`)).toMatchObject({ code: 0 });
    expect(await ferry(...flags, 'rmdir', `${base}/x/y/z`)).toMatchObject({ code: 0 });
    expect(await ferry(...flags, 'ls', `${base}/x`)).toMatchObject({ code: 0, stdout: 'y/\n' });
    expect(await ferry(...flags, 'ls', `${base}/x/y`)).toMatchObject({ code: 0, stdout: '' });

    expect(await ferry(...flags, 'cp', join(local, 'a.txt'), `${base}/e/only.txt`)).toMatchObject({
      code: 0,
    });
    expect(await ferry(...flags, 'rm', `${base}/e/only.txt`)).toMatchObject({ code: 0 });
    expect(await ferry(...flags, 'ls', `${base}/e`)).toMatchObject({ code: 0, stdout: '' });

    // A folder with no marker (written by another tool) has no time: shown as such, not 1970.
    await aws('s3', 'cp', join(local, 'a.txt'), `s3://${TEST_BUCKET}/${prefix}/bare/a.txt`);
    const long = (await ferry(...flags, 'ls', '-l', base)).stdout;
    const year = String(new Date().getUTCFullYear());
    expect(long).toMatch(new RegExp(`^\\s+-  ${year}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d  x/$`, 'm'));
    expect(long).toMatch(/^\s+- {2}- {18} {2}bare\/$/m);
    expect(long).not.toContain('1970');
  }, 180_000);
});
