import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Client } from '../../src/s3/client.js';
import { requireBuiltCli } from '../support/cli.js';
import { credentialUrl, ensureBucket, TEST_BUCKET, testConnection, testS3 } from '../support/s3.js';
import { curl, ferryWithInput, ServeProcess, serverEnv } from './serve-process.js';

/**
 * The first "must show", step by step: `ferry serve` started in an empty folder with no
 * configuration; a user added with `ferry user add` beside the running server, home on RGW; the
 * user's file API with curl, and nothing outside the home reachable.
 */
describe('ferry serve from an empty folder', () => {
  let dir: string;
  let data: string;
  let server: ServeProcess;
  let url: string;
  let client: S3Client;
  const prefix = `t-serve-${randomBytes(4).toString('hex')}`;
  const s3 = () => testS3();
  const creds = () => ({ accessKeyId: s3().accessKeyId, secretAccessKey: s3().secretAccessKey });
  const alicePassword = 'correct horse battery staple';
  const bobPassword = 'bob-has-a-long-password';
  const env = () => serverEnv();

  beforeAll(async () => {
    await requireBuiltCli();
    client = createS3Client(testConnection({ prefix: '' }));
    await ensureBucket(client);
    dir = mkdtempSync(join(tmpdir(), 'ferry-serve-'));
    data = join(dir, 'ferry-data');
    server = new ServeProcess(['--http', '127.0.0.1:0'], { cwd: dir, env: env() });
    url = await server.httpUrl();
  });
  afterAll(async () => {
    await server?.close();
  });

  const admin = (args: string[], input = '') => ferryWithInput([...args, '--data', data], input, env(), dir);

  it('creates ./ferry-data (0700) with its store and a secret key (0600), and prints the admin login', async () => {
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(statSync(data).mode & 0o777).toBe(0o700);
    expect(statSync(join(data, 'secret.key')).mode & 0o777).toBe(0o600);
    expect(existsSync(join(data, 'ferry.db'))).toBe(true);
    expect(existsSync(join(data, 'files'))).toBe(true);
    const password = (
      await server.waitFor(/created the admin account "admin" with the password (\S+)/)
    )[1] as string;
    expect(server.stdout).toContain(`${url}/api/v1/admin/login`);
    const login = await curl([
      '-H',
      'content-type: application/json',
      '-d',
      JSON.stringify({ username: 'admin', password }),
      `${url}/api/v1/admin/login`,
    ]);
    expect(login.status).toBe(200);
    const wrong = await curl([
      '-H',
      'content-type: application/json',
      '-d',
      JSON.stringify({ username: 'admin', password: `${password}x` }),
      `${url}/api/v1/admin/login`,
    ]);
    expect(wrong.status).toBe(401);
  });

  it('ferry user add works on --data while the server runs; an s3:// home becomes a connection, keys sealed', async () => {
    const home = credentialUrl(creds(), `${TEST_BUCKET}/${prefix}/alice/`);
    const r = await admin(['user', 'add', 'alice', '--password-stdin', '--home', home], `${alicePassword}\n`);
    expect(r.stderr).toContain('created the connection');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('created user alice');
    const shown = await admin(['user', 'show', 'alice', '--json']);
    expect(shown.code).toBe(0);
    const view = JSON.parse(shown.stdout);
    expect(view.home).toEqual({ type: 's3', connection: TEST_BUCKET, prefix: `${prefix}/alice` });
    expect(view.hasPassword).toBe(true);
    expect(shown.stdout).not.toContain(alicePassword);
    // A second home in the same bucket reuses the connection.
    const bob = await admin(
      [
        'user',
        'add',
        'bob',
        '--password',
        bobPassword,
        '--home',
        credentialUrl(creds(), `${TEST_BUCKET}/${prefix}/bob/`),
      ],
      '',
    );
    expect(bob.code).toBe(0);
    expect(bob.stderr).not.toContain('created the connection');
    const conns = await admin(['connection', 'list', '--json']);
    expect(conns.code).toBe(0);
    expect(
      JSON.parse(conns.stdout).filter((c: { name: string }) => c.name.startsWith(TEST_BUCKET)),
    ).toHaveLength(1);
    for (const out of [r.stdout, r.stderr, conns.stdout, bob.stdout, bob.stderr]) {
      expect(out).not.toContain(s3().secretAccessKey);
      expect(out).not.toContain(bobPassword);
    }
    const list = await admin(['user', 'list']);
    expect(list.stdout).toMatch(/alice\s+yes\s+ferry-test:/);
  });

  it('the user lists, uploads to and downloads from the home through the file API (curl)', async () => {
    const file = join(dir, 'hello.txt');
    writeFileSync(file, 'hello from alice\n');
    const u = ['-u', `alice:${alicePassword}`];
    const put = await curl([...u, '-T', file, `${url}/api/v1/user/files/content?path=/hello.txt`]);
    expect(put.status).toBe(201);
    const mkdir = await curl([
      ...u,
      '-H',
      'content-type: application/json',
      '-d',
      '{"path":"/docs"}',
      `${url}/api/v1/user/files/mkdir`,
    ]);
    expect(mkdir.status).toBe(201);
    expect((await curl([...u, '-T', file, `${url}/api/v1/user/files/content?path=/docs/a.txt`])).status).toBe(
      201,
    );
    const list = await curl([...u, `${url}/api/v1/user/files?path=/`]);
    expect(list.status).toBe(200);
    expect(
      JSON.parse(list.body)
        .entries.map((e: { name: string }) => e.name)
        .sort(),
    ).toEqual(['docs', 'hello.txt']);
    const got = await curl([...u, `${url}/api/v1/user/files/content?path=/docs/a.txt`]);
    expect(got).toEqual({ status: 200, body: 'hello from alice\n' });
    // It is in RGW where the home says.
    const head = await client.send(
      new HeadObjectCommand({ Bucket: TEST_BUCKET, Key: `${prefix}/alice/docs/a.txt` }),
    );
    expect(head.ContentLength).toBe(17);
    const bad = await curl(['-u', 'alice:wrong-password', `${url}/api/v1/user/files?path=/`]);
    expect(bad.status).toBe(401);
  });

  it('cannot reach outside the home: .., %2e%2e, absolute paths, mounts the user lacks', async () => {
    const secret = 'bob secret bytes';
    for (const key of [`${prefix}/bob/secret.txt`, `${prefix}/secret.txt`, `${prefix}/shared/report.txt`]) {
      await client.send(new PutObjectCommand({ Bucket: TEST_BUCKET, Key: key, Body: secret }));
    }
    const mount = await admin([
      'mount',
      'add',
      '/shared',
      `${TEST_BUCKET}:${prefix}/shared`,
      '--user',
      'bob',
      '--read-only',
    ]);
    expect(mount.stderr).toBe('');
    expect(mount.code).toBe(0);
    const u = ['-u', `alice:${alicePassword}`];
    const attempts = [
      '/../bob/secret.txt',
      '../secret.txt',
      '/docs/../../secret.txt',
      '%2e%2e/secret.txt',
      '%2e%2e%2fbob%2fsecret.txt',
      '/%2e%2e/%2e%2e/secret.txt',
      `/${prefix}/bob/secret.txt`,
      `/${TEST_BUCKET}/${prefix}/secret.txt`,
      `${data}/ferry.db`,
      '/etc/passwd',
      '/shared/report.txt',
    ];
    for (const path of attempts) {
      const r = await curl([...u, '--path-as-is', `${url}/api/v1/user/files/content?path=${path}`]);
      expect(r.status, path).toBeGreaterThanOrEqual(400);
      expect(r.body, path).not.toContain(secret);
      expect(r.body, path).not.toContain('root:');
    }
    const listUp = await curl([...u, `${url}/api/v1/user/files?path=/..`]);
    expect(
      JSON.parse(listUp.body)
        .entries.map((e: { name: string }) => e.name)
        .sort(),
    ).toEqual(['docs', 'hello.txt']);
    // An upload to ../x lands inside the home (the chroot), never beside it.
    const file = join(dir, 'escape.txt');
    writeFileSync(file, 'escape\n');
    const up = await curl([...u, '-T', file, `${url}/api/v1/user/files/content?path=/../escape.txt`]);
    expect(up.status).toBe(201);
    await expect(
      client.send(new HeadObjectCommand({ Bucket: TEST_BUCKET, Key: `${prefix}/escape.txt` })),
    ).rejects.toThrow();
    await client.send(new HeadObjectCommand({ Bucket: TEST_BUCKET, Key: `${prefix}/alice/escape.txt` }));
    // The mount is real: its owner reads through it, read-only.
    const b = ['-u', `bob:${bobPassword}`];
    expect(await curl([...b, `${url}/api/v1/user/files/content?path=/shared/report.txt`])).toEqual({
      status: 200,
      body: secret,
    });
    expect(
      (await curl([...b, '-T', file, `${url}/api/v1/user/files/content?path=/shared/x.txt`])).status,
    ).toBe(403);
  });

  it('SIGTERM stops the server cleanly (exit 0)', async () => {
    server.child.kill('SIGTERM');
    const { code } = await server.exited;
    expect(server.stdout).toContain('stopped');
    expect(code).toBe(0);
  });
});
