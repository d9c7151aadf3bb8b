import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireBuiltCli } from '../support/cli.js';
import { curl, ferryWithInput, ServeProcess, serverEnv } from './serve-process.js';

/**
 * Issue 8 review: the data folder (secret.key, ferry.db) is never reachable through a user's
 * tree. An account admin (any role that manages users or mounts) who points a local home or mount
 * at it, or at a folder above it, would otherwise read the key that decrypts every stored
 * connection secret, and the store with every password hash.
 */
describe('the data folder is never a home or mount', () => {
  let dir: string;
  let data: string;
  let server: ServeProcess;
  let url: string;
  let key: string;
  const env = () => serverEnv({ FERRY_ADMIN_PASSWORD: 'first-admin-password' });

  beforeAll(async () => {
    await requireBuiltCli();
    dir = mkdtempSync(join(tmpdir(), 'ferry-review-data-'));
    data = join(dir, 'ferry-data');
    server = new ServeProcess(['--http', '127.0.0.1:0', '--data', data], { cwd: dir, env: env() });
    url = await server.httpUrl();
    const made = await ferryWithInput(
      ['apikey', 'add', 'ci', '--admin', 'admin', '--json', '--data', data],
      '',
      env(),
      dir,
    );
    key = (JSON.parse(made.stdout) as { secret: string }).secret;
  });
  afterAll(async () => {
    await server?.close();
  });

  const admin = (method: string, path: string, body: unknown) =>
    curl([
      '-X',
      method,
      '-H',
      `authorization: Bearer ${key}`,
      '-H',
      'content-type: application/json',
      '-d',
      JSON.stringify(body),
      `${url}/api/v1${path}`,
    ]);
  const download = (user: string, path: string) =>
    curl([
      '-u',
      `${user}:${user}-password-1`,
      `${url}/api/v1/user/files/content?path=${encodeURIComponent(path)}`,
    ]);

  it('a home at the data folder or above it: nothing of it can be read', async () => {
    const secret = readFileSync(join(data, 'secret.key'), 'utf8').trim();
    for (const [user, home, file] of [
      ['mallory', data, '/secret.key'],
      ['trudy', dir, '/ferry-data/secret.key'],
    ] as const) {
      const made = await admin('POST', '/users', {
        username: user,
        password: `${user}-password-1`,
        home: { type: 'local', path: home },
      });
      expect(made.status).toBe(201);
      const got = await download(user, file);
      expect(got.status, `${user}: ${got.body}`).not.toBe(200);
      expect(got.body).not.toContain(secret);
    }
  });

  it('a mount of the data folder: nothing of it can be read, the home still works', async () => {
    const secret = readFileSync(join(data, 'secret.key'), 'utf8').trim();
    expect((await admin('POST', '/users', { username: 'oscar', password: 'oscar-password-1' })).status).toBe(
      201,
    );
    const m = await admin('POST', '/mounts', {
      owner: { user: 'oscar' },
      path: '/data',
      target: { type: 'local', path: data },
      readOnly: true,
    });
    expect(m.status).toBe(201);
    const got = await download('oscar', '/data/secret.key');
    expect(got.status, got.body).not.toBe(200);
    expect(got.body).not.toContain(secret);
    const put = await curl([
      '-u',
      'oscar:oscar-password-1',
      '-X',
      'PUT',
      '--data-binary',
      'hello',
      `${url}/api/v1/user/files/content?path=/hello.txt`,
    ]);
    expect(put.status, put.body).toBe(201);
  });
});
