import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { call, startServer, system, type TestServer } from './support.js';

/**
 * Issue 8 review: attacks on the file API through the real HTTP stack (SQLite, homes on RGW).
 * Each test is one finding of the review or one attack that must keep failing.
 */
let s: TestServer;

const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

async function files(
  auth: string,
  method: string,
  path: string,
  body?: string | Uint8Array | Record<string, unknown>,
): Promise<{ status: number; json: unknown }> {
  const headers: Record<string, string> = { authorization: auth };
  let payload: string | Uint8Array | undefined;
  if (body !== undefined && (typeof body === 'string' || body instanceof Uint8Array)) payload = body;
  else if (body !== undefined) {
    headers['content-type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  const res = await fetch(`${s.base}/api/v1/user/files${path}`, { method, headers, body: payload });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined };
}
const q = (p: string) => `?path=${encodeURIComponent(p)}`;

beforeAll(async () => {
  s = await startServer();
}, 120_000);
afterAll(async () => {
  await s?.close();
});

describe('review attacks', () => {
  test('concurrent deletes of one file credit the quota once (no negative ledger)', async () => {
    const auth = basic('dora', 'dora-password-1');
    await s.accounts.users.create(
      { username: 'dora', password: 'dora-password-1', quota: { bytes: 1024 * 1024 } },
      system,
    );
    const put = await files(auth, 'PUT', `/content${q('/a.bin')}`, new Uint8Array(600 * 1024));
    expect(put.status).toBe(201);
    expect((await s.sessions.ledger.usage('dora')).bytes).toBe(600 * 1024);
    const results = await Promise.all(Array.from({ length: 8 }, () => files(auth, 'DELETE', q('/a.bin'))));
    expect(results.some((r) => r.status === 204)).toBe(true);
    const usage = await s.sessions.ledger.usage('dora');
    expect(usage).toEqual({ bytes: 0, files: 0 });
  });

  test('renaming a folder does not carry files out of a subfolder with fewer permissions', async () => {
    const auth = basic('ezra', 'ezra-password-1');
    await s.accounts.users.create(
      { username: 'ezra', password: 'ezra-password-1', permissions: { '/': ['*'] } },
      system,
    );
    expect((await files(auth, 'PUT', `/content${q('/locked/in/keep.txt')}`, 'keep me')).status).toBe(201);
    expect((await files(auth, 'PUT', `/content${q('/top/locked/keep.txt')}`, 'keep me')).status).toBe(201);
    // Then the admin makes /locked and /top/locked read-only for ezra: readable, never changed.
    const readOnly = ['list', 'download'] as const;
    await s.accounts.users.update(
      'ezra',
      { permissions: { '/': ['*'], '/locked': [...readOnly], '/top/locked': [...readOnly] } },
      system,
    );
    expect((await files(auth, 'DELETE', q('/locked/in/keep.txt'))).status).toBe(403);
    // Renaming the folder itself, or a folder above it, would put the files where ezra may do
    // everything (delete, overwrite): refused, and nothing moved.
    for (const from of ['/locked', '/top']) {
      const moved = await files(auth, 'POST', '/rename', { from, to: '/free' });
      expect(moved.status, from).toBe(403);
      expect((moved.json as { error: { code: string } }).error.code).toBe('PermissionDenied');
    }
    expect((await files(auth, 'GET', `/stat${q('/locked/in/keep.txt')}`)).status).toBe(200);
    expect((await files(auth, 'GET', `/stat${q('/top/locked/keep.txt')}`)).status).toBe(200);
    // A folder with no narrower permissions below it still moves.
    expect((await files(auth, 'POST', '/mkdir', { path: '/plain/sub' })).status).toBe(201);
    expect((await files(auth, 'POST', '/rename', { from: '/plain', to: '/plain2' })).status).toBe(200);
  });
  test('concurrent overwrites of one file with empty bodies do not free quota that was never used', async () => {
    const auth = basic('fern', 'fern-password-1');
    await s.accounts.users.create(
      { username: 'fern', password: 'fern-password-1', quota: { bytes: 1024 * 1024 } },
      system,
    );
    expect((await files(auth, 'PUT', `/content${q('/a.bin')}`, new Uint8Array(900 * 1024))).status).toBe(201);
    const results = await Promise.all(
      Array.from({ length: 6 }, () => files(auth, 'PUT', `/content${q('/a.bin')}`, new Uint8Array(0))),
    );
    expect(results.map((r) => r.status)).toContain(201);
    // One empty file is left: the ledger says so, not less.
    expect(await s.sessions.ledger.usage('fern')).toEqual({ bytes: 0, files: 1 });
    // And the quota still holds: 2 MiB does not fit in 1 MiB.
    const big = await files(auth, 'PUT', `/content${q('/b.bin')}`, new Uint8Array(2 * 1024 * 1024));
    expect(big.status).toBe(507);
  });
  test('a path in NFD reaches the same folder as in NFC, with the same permissions', async () => {
    const auth = basic('gwen', 'gwen-password-1');
    await s.accounts.users.create(
      { username: 'gwen', password: 'gwen-password-1', permissions: { '/': ['*'] } },
      system,
    );
    const nfc = '/caf\u00e9';
    const nfd = '/cafe\u0301';
    expect((await files(auth, 'PUT', `/content${q(`${nfc}/keep.txt`)}`, 'keep me')).status).toBe(201);
    await s.accounts.users.update(
      'gwen',
      { permissions: { '/': ['*'], [nfc]: ['list', 'download'] } },
      system,
    );
    expect((await files(auth, 'DELETE', q(`${nfc}/keep.txt`))).status).toBe(403);
    // The same name spelled with a combining accent: the same file, so the same refusal.
    expect((await files(auth, 'DELETE', q(`${nfd}/keep.txt`))).status).toBe(403);
    expect((await files(auth, 'PUT', `/content${q(`${nfd}/keep.txt`)}`, 'gone')).status).toBe(403);
    expect((await files(auth, 'GET', `/stat${q(`${nfc}/keep.txt`)}`)).status).toBe(200);
  });
  test('a password change ends the login cookies made with the old one (user and admin)', async () => {
    await s.accounts.users.create({ username: 'ivy', password: 'ivy-password-11' }, system);
    await s.accounts.admins.create({ username: 'ops', password: 'ops-password-11', role: 'manager' }, system);
    const cookieOf = (r: { headers: Headers }) => (r.headers.get('set-cookie') ?? '').split(';')[0] as string;
    const user = await call(s.base, 'POST', '/api/v1/user/login', {
      body: { username: 'ivy', password: 'ivy-password-11' },
    });
    expect(user.status).toBe(200);
    const admin = await call(s.base, 'POST', '/api/v1/admin/login', {
      body: { username: 'ops', password: 'ops-password-11' },
    });
    expect(admin.status).toBe(200);
    const asUser = { headers: { cookie: cookieOf(user) } };
    const asAdmin = { headers: { cookie: cookieOf(admin) } };
    expect((await call(s.base, 'GET', '/api/v1/user/files?path=/', asUser)).status).toBe(200);
    expect((await call(s.base, 'GET', '/api/v1/users', asAdmin)).status).toBe(200);
    // The passwords leaked: the admin resets both. Whoever holds the old cookies is out.
    await s.accounts.users.update('ivy', { password: 'ivy-password-22' }, system);
    await s.accounts.admins.update('ops', { password: 'ops-password-22' }, system);
    expect((await call(s.base, 'GET', '/api/v1/user/files?path=/', asUser)).status).toBe(401);
    expect((await call(s.base, 'GET', '/api/v1/users', asAdmin)).status).toBe(401);
  });
  test('a manager cannot point a home or a mount at a server folder (only role admin may)', async () => {
    await s.accounts.admins.create({ username: 'mgr', password: 'mgr-password-11', role: 'manager' }, system);
    const { secret } = await s.accounts.apiKeys.create({ name: 'mgr', owner: { admin: 'mgr' } }, system);
    const local = { type: 'local', path: '/etc' };
    const made = await call(s.base, 'POST', '/api/v1/users', {
      key: secret,
      body: { username: 'jack', password: 'jack-password-1', home: local },
    });
    expect(made.status, made.text).toBe(403);
    expect(
      (
        await call(s.base, 'POST', '/api/v1/users', {
          key: secret,
          body: { username: 'jack', password: 'jack-password-1' },
        })
      ).status,
    ).toBe(201);
    const mount = await call(s.base, 'POST', '/api/v1/mounts', {
      key: secret,
      body: { owner: { user: 'jack' }, path: '/etc', target: local, readOnly: true },
    });
    expect(mount.status, mount.text).toBe(403);
    const group = await call(s.base, 'POST', '/api/v1/groups', {
      key: secret,
      body: { name: 'crew', home: local },
    });
    expect(group.status, group.text).toBe(403);
    const patch = await call(s.base, 'PATCH', '/api/v1/users/jack', { key: secret, body: { home: local } });
    expect(patch.status, patch.text).toBe(403);
    // S3 homes stay the manager's to give; role admin may still use local folders.
    const s3home = { type: 's3', connection: 'main', prefix: 'crew/%username%' };
    expect(
      (await call(s.base, 'POST', '/api/v1/groups', { key: secret, body: { name: 'crew', home: s3home } }))
        .status,
    ).toBe(201);
    const byAdmin = await call(s.base, 'POST', '/api/v1/mounts', {
      key: s.rootKey,
      body: { owner: { user: 'jack' }, path: '/etc', target: local, readOnly: true },
    });
    expect(byAdmin.status, byAdmin.text).toBe(201);
    expect(JSON.stringify(await s.accounts.users.get('jack'))).not.toContain('/etc');
  });
  test('a refused rename names the path that is in the way (the target), not the source', async () => {
    const auth = basic('kate', 'kate-password-1');
    await s.accounts.users.create({ username: 'kate', password: 'kate-password-1' }, system);
    expect((await files(auth, 'PUT', `/content${q('/d/x.txt')}`, 'x')).status).toBe(201);
    expect((await files(auth, 'PUT', `/content${q('/a.txt')}`, 'a')).status).toBe(201);
    const onto = await files(auth, 'POST', '/rename', { from: '/a.txt', to: '/d', replace: true });
    expect(onto.status).toBe(409);
    expect((onto.json as { error: { message: string } }).error.message).toMatch(/: \/d$/);
    const back = await files(auth, 'POST', '/rename', { from: '/d', to: '/a.txt', replace: true });
    expect(back.status).toBe(409);
    expect((back.json as { error: { message: string } }).error.message).toMatch(/: \/a\.txt$/);
    // Nothing moved, nothing lost.
    expect((await files(auth, 'GET', `/stat${q('/a.txt')}`)).status).toBe(200);
    expect((await files(auth, 'GET', `/stat${q('/d/x.txt')}`)).status).toBe(200);
  });
});
