import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loginAdmin, startTwoNodes, type TwoNodes } from '../support/two-nodes.js';
import { curl, ferryWithInput, type ServeProcess } from './serve-process.js';

/**
 * Two `ferry serve` processes on one PostgreSQL database (the several-nodes deployment of
 * docs/server.md): a user added once logs in on both, a file uploaded through one is read through
 * the other, and a ban, a user change and quota use on node A hold on node B.
 */
describe('two ferry serve nodes on one PostgreSQL', () => {
  let nodes: TwoNodes | undefined;
  let dir: string;
  let a: ServeProcess;
  let b: ServeProcess;
  let urlA: string;
  let urlB: string;
  let env: NodeJS.ProcessEnv;
  const prefix = `t-nodes-${randomBytes(4).toString('hex')}`;

  beforeAll(async () => {
    // Started together: they migrate one database and create one first admin between them.
    nodes = await startTwoNodes({
      name: 'ferry-nodes',
      homes: prefix,
      adminPassword: 'nodes-admin-password',
      env: { FERRY_DEFENDER__MAX_FAILURES: '3' },
    });
    ({ dir, env, a, b, urlA, urlB } = nodes);
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
    await nodes?.close();
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
    const login = await loginAdmin(urlA, 'nodes-admin-password', join(dir, 'cookies'));
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
