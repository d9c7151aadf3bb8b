import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { type CliResult, ferry, ferryBin, requireBuiltCli } from '../support/cli.js';
import { startLoopback } from '../support/loopback.js';
import { TEST_BUCKET, testS3 } from '../support/s3.js';

/**
 * Defect 7b: a secret written into a `KEY:SECRET@` URL (or given as a flag) never reaches
 * stdout or stderr, whatever fails. The built CLI runs as a user would, against RGW, with no
 * credentials in its environment: the URL is the only place the secret is.
 */
let local: string;
let a: string;
let b: string;
let prefix: string;

/** An environment without any credentials or endpoint (the URL carries them). */
function bareEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: local,
    AWS_EC2_METADATA_SERVICE_ENDPOINT: 'http://127.0.0.1:9',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
  return env;
}

/** `s3+http://KEY:SECRET@host/bucket/…` with key and secret encoded. */
function url(path: string, key = testS3().accessKeyId, secret = testS3().secretAccessKey): string {
  const host = new URL(testS3().endpoint).host;
  return `s3+http://${encodeURIComponent(key)}:${encodeURIComponent(secret)}@${host}/${TEST_BUCKET}/${prefix}/${path}`;
}

function expectNoSecret(r: CliResult, ...secrets: string[]) {
  for (const s of secrets) {
    expect(r.stdout).not.toContain(s);
    expect(r.stderr).not.toContain(s);
    expect(r.stdout).not.toContain(encodeURIComponent(s));
    expect(r.stderr).not.toContain(encodeURIComponent(s));
  }
}

beforeAll(async () => {
  await requireBuiltCli();
  local = await mkdtemp(join(tmpdir(), 'ferry-secrets-'));
  a = join(local, 'a.txt');
  b = join(local, 'b.txt');
  await writeFile(a, 'alpha');
  await writeFile(b, 'bravo');
  prefix = `t-${randomBytes(4).toString('hex')}`;
});

/** `ferry …` run in the folder `cwd` (a relative path stays relative). */
function ferryIn(cwd: string, args: string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [ferryBin, ...args], { env, cwd });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolvePromise({ code: code ?? -1, stdout, stderr }));
  });
}

/** Several CLI runs per test on a shared, busy machine. */
const SLOW = 180_000;

describe('secrets in URLs never reach the output', () => {
  const secret = () => testS3().secretAccessKey;

  it(
    'multi-source cp / mv into a URL that is not a folder: the error names it without the secret',
    async () => {
      const cp = await ferry(['cp', a, b, url('not-a-folder')], bareEnv());
      expect(cp.code).not.toBe(0);
      expect(cp.stderr).toMatch(/needs a folder as destination/);
      expectNoSecret(cp, secret());
      const mv = await ferry(['mv', a, b, url('not-a-folder')], bareEnv());
      expect(mv.code).not.toBe(0);
      expect(mv.stderr).toMatch(/needs a folder as destination/);
      expectNoSecret(mv, secret());
    },
    SLOW,
  );

  it(
    'a typo in the scheme (s3:/ with one slash, s3+http:/, s3// with no colon) is a local path: the error keeps the secret out',
    async () => {
      const host = new URL(testS3().endpoint).host;
      const typed = `${encodeURIComponent(testS3().accessKeyId)}:${encodeURIComponent(secret())}@${host}/${TEST_BUCKET}/x`;
      for (const scheme of ['s3:/', 's3+http:/', 's3:', 's3//', 's3+https//']) {
        const r = await ferry(['ls', `${scheme}${typed}`], bareEnv());
        expect(r.code).not.toBe(0);
        expect(r.stderr).toMatch(/no such file or folder/);
        expectNoSecret(r, secret());
      }
    },
    SLOW,
  );

  it(
    'sync --json to a mistyped URL (a local path): the failed events on stdout keep the secret out',
    async () => {
      const host = new URL(testS3().endpoint).host;
      const typed = `s3:/${encodeURIComponent(testS3().accessKeyId)}:${encodeURIComponent(secret())}@${host}/${TEST_BUCKET}/x`;
      await mkdir(join(local, 'sync-src'), { recursive: true });
      await writeFile(join(local, 'sync-src', 'f.txt'), 'f');
      // A folder where the file must go: the copy fails, naming the destination's path.
      await mkdir(join(local, typed, 'f.txt'), { recursive: true });
      for (const args of [
        ['sync', '--json'],
        ['sync', '--json', '--bidirectional', '--resync'],
      ]) {
        const r = await ferryIn(local, [...args, 'sync-src', typed], bareEnv());
        expect(r.stdout).toMatch(/"event":"failed"/);
        expect(r.code).not.toBe(0);
        expectNoSecret(r, secret());
      }
    },
    SLOW,
  );

  it(
    'cp -v and --json of a working copy print where, never the secret',
    async () => {
      const v = await ferry(['cp', '-v', a, url('a.txt')], bareEnv());
      expect(v.code).toBe(0);
      expect(v.stdout).toMatch(/a\.txt/);
      expectNoSecret(v, secret());
      const j = await ferry(['cp', '--json', a, url('j.txt')], bareEnv());
      expect(j.code).toBe(0);
      expectNoSecret(j, secret());
      const st = await ferry(['stat', url('a.txt')], bareEnv());
      expect(st.code).toBe(0);
      expectNoSecret(st, secret());
    },
    SLOW,
  );

  it(
    'failures on the S3 side (missing source, folder without -r, rmdir of a file) keep the secret out',
    async () => {
      for (const args of [
        ['cp', url('missing.txt'), join(local, 'x')],
        ['cat', url('missing.txt')],
        ['rm', url('')],
        ['rmdir', url('a.txt')],
        ['ls', url('missing/')],
      ]) {
        const r = await ferry(args, bareEnv());
        expect(r.code, args.join(' ')).not.toBe(0);
        expectNoSecret(r, secret());
      }
    },
    SLOW,
  );

  it(
    'a URL the CLI cannot use (unknown command, bad bucket, bad escape) is echoed without the secret',
    async () => {
      const odd = 'Odd/Secret+With@And:Colon%';
      const host = new URL(testS3().endpoint).host;
      for (const args of [
        [url('x')], // commander: unknown command '…'
        ['ls', `s3+http://AKIDEXAMPLE:${encodeURIComponent(odd)}@${host}/b@d_bucket!/x`],
        ['ls', `s3+http://AKIDEXAMPLE:${odd}@${host}/ferry-test/x`],
        ['ls', url('x', 'AKIDEXAMPLE', odd)],
        ['cp', a, b, url('not-a-folder', 'AKIDEXAMPLE', odd)],
        ['lifecycle', 'abort-incomplete', '--days', '3', url('x', 'AKIDEXAMPLE', odd)],
        ['uploads', 'ls', url('x', 'AKIDEXAMPLE', odd)],
      ]) {
        const r = await ferry(args, bareEnv());
        expect(r.code, args.join(' ')).not.toBe(0);
        // The secret in pieces too: a raw `@` or `:` in it must not leave a tail behind.
        expectNoSecret(r, odd, 'Secret+With', testS3().secretAccessKey);
      }
    },
    SLOW,
  );

  it(
    'doctor and whoami of a URL with a secret: the report has no secret',
    async () => {
      const d = await ferry(['doctor', url('')], bareEnv());
      expect(d.stdout).toMatch(/full|read/);
      expectNoSecret(d, secret());
      const dj = await ferry(['doctor', '--json', url('')], bareEnv());
      expectNoSecret(dj, secret());
      const w = await ferry(['whoami', '--json', url('')], bareEnv());
      expectNoSecret(w, secret());
      const bad = await ferry(['doctor', url('', testS3().accessKeyId, 'WrongSecret-123456')], bareEnv());
      expectNoSecret(bad, 'WrongSecret-123456');
    },
    SLOW,
  );

  it(
    'doctor and whoami reports (stdout) hide credentials written into --endpoint / --sts-endpoint',
    async () => {
      const host = new URL(testS3().endpoint).host;
      const env = {
        ...bareEnv(),
        AWS_ACCESS_KEY_ID: testS3().accessKeyId,
        AWS_SECRET_ACCESS_KEY: testS3().secretAccessKey,
      };
      const d = await ferry(
        ['--endpoint', `http://user:EndpointPw-7777@${host}`, 'doctor', `s3://${TEST_BUCKET}/`],
        env,
      );
      expect(d.stdout).toMatch(/target/);
      expectNoSecret(d, 'EndpointPw-7777', testS3().secretAccessKey);
      const w = await ferry(
        ['--sts-endpoint', 'http://user:StsPw-8888@127.0.0.1:9', 'whoami', `s3://${TEST_BUCKET}/`],
        env,
      );
      expect(w.stdout).toMatch(/identity/);
      expectNoSecret(w, 'StsPw-8888', testS3().secretAccessKey);
    },
    SLOW,
  );

  it(
    'a secret given as --secret-key or --session-token is not echoed by a failing command',
    async () => {
      const host = new URL(testS3().endpoint).host;
      const s = 'FlagSecret-abcdef123456';
      const r = await ferry(
        [
          '--endpoint',
          `http://${host}`,
          '--access-key',
          'AKIDEXAMPLE',
          '--secret-key',
          s,
          '--session-token',
          'SessionToken-xyz987654',
          'cp',
          a,
          b,
          `s3://${TEST_BUCKET}/${prefix}/nope`,
        ],
        bareEnv(),
      );
      expect(r.code).not.toBe(0);
      expectNoSecret(r, s, 'SessionToken-xyz987654');
    },
    SLOW,
  );
});

describe('secrets in the process list', () => {
  it(
    'while ferry runs, its command line (/proc/PID/cmdline, what ps shows) holds no secret',
    async () => {
      // A store that never answers: ferry is caught mid-request, after it has started.
      let arrived: () => void = () => {};
      const requested = new Promise<void>((r) => (arrived = r));
      const stuck = await startLoopback(() => arrived());
      const secret = 'ProcSecret-0123456789abcdef';
      const child = spawn(process.execPath, [
        ferryBin,
        'cat',
        `s3+http://AKIDEXAMPLE:${secret}@${new URL(stuck.url).host}/some-bucket/key`,
      ]);
      try {
        await requested;
        const cmdline = readFileSync(`/proc/${child.pid}/cmdline`, 'utf8');
        expect(cmdline).toMatch(/ferry/);
        expect(cmdline).toMatch(/some-bucket\/key/);
        expect(cmdline).not.toContain(secret);
      } finally {
        child.kill('SIGKILL');
        await stuck.close();
      }
    },
    SLOW,
  );
});
