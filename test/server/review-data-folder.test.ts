import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { suiteFixture } from '../support/suite.js';
import { curl, ferryWithInput, startAdminServer } from './serve-process.js';

/**
 * Issue 8 review: the data folder (secret.key, ferry.db) is never reachable through a user's
 * tree. An account admin (any role that manages users or mounts) who points a local home or mount
 * at it, or at a folder above it, would otherwise read the key that decrypts every stored
 * connection secret, and the store with every password hash.
 */
describe('the data folder is never a home or mount', () => {
  const srv = suiteFixture(() => startAdminServer('ferry-review-data-', 'first-admin-password'));
  let key: string;
  beforeAll(async () => {
    const made = await ferryWithInput(
      ['apikey', 'add', 'ci', '--admin', 'admin', '--json', '--data', srv.data],
      '',
      srv.env,
      srv.dir,
    );
    key = (JSON.parse(made.stdout) as { secret: string }).secret;
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
      `${srv.url}/api/v1${path}`,
    ]);
  const download = (user: string, path: string) =>
    curl([
      '-u',
      `${user}:${user}-password-1`,
      `${srv.url}/api/v1/user/files/content?path=${encodeURIComponent(path)}`,
    ]);

  it('a home at the data folder or above it: nothing of it can be read', async () => {
    const secret = readFileSync(join(srv.data, 'secret.key'), 'utf8').trim();
    for (const [user, home, file] of [
      ['mallory', srv.data, '/secret.key'],
      ['trudy', srv.dir, '/ferry-data/secret.key'],
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
    const secret = readFileSync(join(srv.data, 'secret.key'), 'utf8').trim();
    expect((await admin('POST', '/users', { username: 'oscar', password: 'oscar-password-1' })).status).toBe(
      201,
    );
    const m = await admin('POST', '/mounts', {
      owner: { user: 'oscar' },
      path: '/data',
      target: { type: 'local', path: srv.data },
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
      `${srv.url}/api/v1/user/files/content?path=/hello.txt`,
    ]);
    expect(put.status, put.body).toBe(201);
  });
});
