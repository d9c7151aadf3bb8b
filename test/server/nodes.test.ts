import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireBuiltCli } from '../support/cli.js';
import { freshPostgresUrl } from '../support/postgres.js';
import { credentialUrl, TEST_BUCKET, testS3 } from '../support/s3.js';
import { curl, ferryWithInput, ServeProcess, serverEnv } from './serve-process.js';

/**
 * Two `ferry serve` processes on one PostgreSQL database (the several-nodes deployment of
 * docs/server.md): a user added once logs in on both, a file uploaded through one is read through
 * the other, and a ban, a user change and quota use on node A hold on node B.
 */
describe('two ferry serve nodes on one PostgreSQL', () => {
  let dir: string;
  let a: ServeProcess;
  let b: ServeProcess;
  let urlA: string;
  let urlB: string;
  let env: NodeJS.ProcessEnv;
  const prefix = `t-nodes-${randomBytes(4).toString('hex')}`;

  beforeAll(async () => {
    await requireBuiltCli();
    dir = mkdtempSync(join(tmpdir(), 'ferry-nodes-'));
    const s3 = testS3();
    env = serverEnv({
      FERRY_DATABASE: await freshPostgresUrl(),
      FERRY_SECRET_KEY: randomBytes(32).toString('hex'),
      FERRY_STORAGE: credentialUrl(
        { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
        `${TEST_BUCKET}/${prefix}`,
      ),
      FERRY_DEFENDER__MAX_FAILURES: '3',
      FERRY_ADMIN_PASSWORD: 'nodes-admin-password',
    });
    for (const n of ['a', 'b']) mkdirSync(join(dir, n));
    // Started together: they migrate one database and create one first admin between them.
    a = new ServeProcess(['--http', '127.0.0.1:0', '--data', join(dir, 'a')], { cwd: dir, env });
    b = new ServeProcess(['--http', '127.0.0.1:0', '--data', join(dir, 'b')], { cwd: dir, env });
    [urlA, urlB] = await Promise.all([a.httpUrl(), b.httpUrl()]);
    const created = [a, b].filter((n) => n.stdout.includes('created the admin account')).length;
    expect(created).toBe(1);
    const add = (name: string) =>
      ferryWithInput(
        ['user', 'add', name, '--data', join(dir, 'a'), '--password-stdin'],
        `${name}-password\n`,
        env,
        dir,
      );
    for (const name of ['erin', 'frank']) {
      const r = await add(name);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
    }
  });
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
  });

  /** Ask until `check` holds (another node learns of a change within its feed's latency). */
  async function eventually(check: () => Promise<boolean>, what: string): Promise<void> {
    for (let i = 0; i < 100; i++) {
      if (await check()) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`never true: ${what}`);
  }

  it('a file uploaded through node A is read through node B', async () => {
    const file = join(dir, 'shared.txt');
    writeFileSync(file, 'written on A\n');
    const put = await curl([
      '-u',
      'erin:erin-password',
      '-T',
      file,
      `${urlA}/api/v1/user/files/content?path=/shared.txt`,
    ]);
    expect(put.status).toBe(201);
    const got = await curl([
      '-u',
      'erin:erin-password',
      `${urlB}/api/v1/user/files/content?path=/shared.txt`,
    ]);
    expect(got).toEqual({ status: 200, body: 'written on A\n' });
  });

  it('a user change made through node A is seen by node B', async () => {
    const login = await curl([
      '-H',
      'content-type: application/json',
      '-d',
      '{"username":"admin","password":"nodes-admin-password"}',
      '-c',
      join(dir, 'cookies'),
      `${urlA}/api/v1/admin/login`,
    ]);
    expect(login.status).toBe(200);
    const disable = await curl([
      '-b',
      join(dir, 'cookies'),
      '-X',
      'PATCH',
      '-H',
      'content-type: application/json',
      '-d',
      '{"enabled":false}',
      `${urlA}/api/v1/users/erin`,
    ]);
    expect(disable.status).toBe(200);
    await eventually(
      async () =>
        (await curl(['-u', 'erin:erin-password', `${urlB}/api/v1/user/files?path=/`])).status === 401,
      'node B refuses the disabled user',
    );
  });

  it('quota used through node A counts on node B', async () => {
    const set = await ferryWithInput(
      ['user', 'set', 'frank', '--data', join(dir, 'b'), '--quota-bytes', '1M'],
      '',
      env,
      dir,
    );
    expect(set.code).toBe(0);
    const shown = await ferryWithInput(
      ['user', 'show', 'frank', '--data', join(dir, 'a'), '--json'],
      '',
      env,
      dir,
    );
    expect(JSON.parse(shown.stdout).quota).toEqual({ bytes: 1024 * 1024 });
    const file = join(dir, 'part.bin');
    writeFileSync(file, randomBytes(700 * 1024));
    const u = ['-u', 'frank:frank-password'];
    expect((await curl([...u, '-T', file, `${urlA}/api/v1/user/files/content?path=/one.bin`])).status).toBe(
      201,
    );
    const second = await curl([...u, '-T', file, `${urlB}/api/v1/user/files/content?path=/two.bin`]);
    expect(second.status, second.body).toBe(507);
    expect(second.body).toContain('QuotaExceeded');
    const listing = await curl([...u, `${urlA}/api/v1/user/files?path=/`]);
    expect(JSON.parse(listing.body).entries.map((e: { name: string }) => e.name)).toEqual(['one.bin']);
    const usage = await curl(['-b', join(dir, 'cookies'), `${urlB}/api/v1/users/frank/quota`]);
    expect(usage.status, usage.body).toBe(200);
    expect(JSON.parse(usage.body)).toMatchObject({ used: { bytes: 700 * 1024, files: 1 } });
  });

  // Last: the failures ban 127.0.0.1 too, which every request of this file comes from.
  it('a ban earned on node A holds on node B', async () => {
    const right = ['-u', 'frank:frank-password', `${urlB}/api/v1/user/files?path=/`];
    expect((await curl(right)).status).toBe(200);
    for (let i = 0; i < 3; i++) {
      expect((await curl(['-u', 'frank:wrong-password', `${urlA}/api/v1/user/files?path=/`])).status).toBe(
        401,
      );
    }
    expect((await curl(right)).status).toBe(401);
  });
});
