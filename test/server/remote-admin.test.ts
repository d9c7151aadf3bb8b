import { describe, expect, it } from 'vitest';
import { suiteFixture } from '../support/suite.js';
import { curl, ferryWithInput, serverEnv, startAdminServer } from './serve-process.js';

/**
 * The admin CLI on a running server (`--server URL --api-key KEY`, the REST API /api/v1): the
 * same commands as on `--data`, the server's validation messages, secrets never printed.
 */
describe('ferry user/group/apikey … --server URL --api-key KEY', () => {
  const srv = suiteFixture(() => startAdminServer('ferry-remote-', 'first-admin-password'));
  let key: string;

  const local = (args: string[], input = '') =>
    ferryWithInput([...args, '--data', srv.data], input, srv.env, srv.dir);
  const remote = (args: string[], input = '', k = key) =>
    ferryWithInput([...args, '--server', srv.url, '--api-key', k], input, serverEnv(), srv.dir);

  it('FERRY_ADMIN_PASSWORD sets the first admin password (and it is not printed)', async () => {
    expect(srv.server.stdout).toContain('with the password from FERRY_ADMIN_PASSWORD');
    expect(srv.server.stdout).not.toContain('first-admin-password');
    const login = await curl([
      '-H',
      'content-type: application/json',
      '-d',
      '{"username":"admin","password":"first-admin-password"}',
      `${srv.url}/api/v1/admin/login`,
    ]);
    expect(login.status).toBe(200);
  });

  it('an admin API key made on --data prints its secret once; listing never shows it', async () => {
    const made = await local(['apikey', 'add', 'ci', '--admin', 'admin', '--json']);
    expect(made.stderr).toBe('');
    expect(made.code).toBe(0);
    const answer = JSON.parse(made.stdout) as { key: { id: string }; secret: string };
    key = answer.secret;
    expect(key).toMatch(/^ferry_/);
    const list = await local(['apikey', 'list']);
    expect(list.stdout).toContain(answer.key.id);
    expect(list.stdout).not.toContain(key);
  });

  it('users and groups are managed remotely, and seen on --data at once', async () => {
    const g = await remote([
      'group',
      'add',
      'team',
      '--quota-bytes',
      '10M',
      '--permission',
      '/=list,download',
    ]);
    expect(g.stderr).toBe('');
    expect(g.code).toBe(0);
    const add = await remote(
      ['user', 'add', 'carol', '--password-stdin', '--group', 'team'],
      'carol-password-1\n',
    );
    expect(add.stderr).toBe('');
    expect(add.stdout).toContain('created user carol');
    const list = await local(['user', 'list', '--json']);
    expect(JSON.parse(list.stdout).map((u: { username: string }) => u.username)).toEqual(['carol']);
    const set = await remote(['user', 'set', 'carol', '--disable', '--max-sessions', '2']);
    expect(set.code).toBe(0);
    const shown = JSON.parse((await remote(['user', 'show', 'carol', '--json'])).stdout);
    expect(shown).toMatchObject({ username: 'carol', enabled: false, maxSessions: 2, groups: ['team'] });
    expect(JSON.stringify(shown)).not.toContain('carol-password-1');
    // The group cannot go while carol is in it.
    const busy = await remote(['group', 'rm', 'team']);
    expect(busy.code).toBe(5);
    expect((await remote(['user', 'rm', 'carol'])).code).toBe(0);
    expect((await remote(['group', 'rm', 'team'])).code).toBe(0);
    expect(JSON.parse((await local(['user', 'list', '--json'])).stdout)).toEqual([]);
  });

  it("bad input comes back as the server's 400 naming the field (exit 2); a wrong key is refused (exit 4)", async () => {
    const bad = await remote(['user', 'add', 'Not_A_Name', '--password', 'long-enough-pw']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('username');
    const short = await remote(['user', 'add', 'dora', '--password', 'short']);
    expect(short.code).toBe(2);
    expect(short.stderr).toContain('password');
    expect(short.stderr).not.toContain('short"');
    const wrong = await remote(['user', 'list'], '', `${key.slice(0, -4)}AAAA`);
    expect(wrong.code).toBe(4);
    expect(wrong.stderr).not.toContain(key.slice(0, -4));
    const missing = await ferryWithInput(['user', 'list', '--server', srv.url], '', serverEnv(), srv.dir);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('--api-key');
  });
});
