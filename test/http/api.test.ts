import { Validator } from '@seriousme/openapi-schema-validator';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { call, ROOT, startServer, system, type TestServer } from './support.js';

/**
 * The admin API and the user's login and file API over real HTTP (node fetch), against the app
 * on a real SQLite store with the real account services and session layer, homes on RGW. The
 * last test checks that every operation of the OpenAPI document was exercised here.
 */
let s: TestServer;
let base: string;
let key: string;
/** Every answer body, for the "no secret in any answer" check. */
const answers: string[] = [];
const SECRETS = { alice: 'alice-password-1', bob: 'bob-password-22', admin2: 'manager-pass-1' };

async function api(method: string, path: string, options: Parameters<typeof call>[3] = {}) {
  const r = await call(base, method, path, { key, ...options });
  answers.push(r.text);
  return r;
}

beforeAll(async () => {
  s = await startServer({ trustProxy: true });
  base = s.base;
  key = s.rootKey;
});
afterAll(async () => {
  await s?.close();
});

describe('OpenAPI, health, metrics', () => {
  test('the OpenAPI document validates and describes the admin and file API', async () => {
    const r = await call(base, 'GET', '/api/openapi.json');
    expect(r.status).toBe(200);
    const result = await new Validator().validate(r.body);
    expect(result.errors).toBeUndefined();
    expect(result.valid).toBe(true);
    expect(Object.keys(r.body.paths)).toContain('/api/v1/users/{username}');
    expect(Object.keys(r.body.paths)).toContain('/api/v1/user/files/content');
    // The request schema is the model's: the username pattern of src/accounts/model.ts.
    const create = r.body.paths['/api/v1/users'].post.requestBody.content['application/json'].schema;
    expect(create.properties.username.pattern).toBe('^[a-z0-9][a-z0-9._-]{0,63}$');
  });

  test('healthz, readyz, metrics need no login', async () => {
    expect((await call(base, 'GET', '/healthz')).body).toEqual({ status: 'ok' });
    expect((await call(base, 'GET', '/readyz')).status).toBe(200);
    const m = await call(base, 'GET', '/metrics');
    expect(m.status).toBe(200);
    expect(m.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(m.text).toMatch(/ferry_http_requests_total\{method="GET",route="\/healthz",status="200"\} 1/);
  });
});

describe('admin login (cookie) and roles', () => {
  test('login sets an HttpOnly SameSite=Strict cookie that works until logout', async () => {
    const bad = await call(base, 'POST', '/api/v1/admin/login', {
      body: { username: 'root', password: 'wrong-one' },
    });
    expect(bad.status).toBe(401);
    expect(bad.body.error.message).toBe('wrong username or password');
    const r = await call(base, 'POST', '/api/v1/admin/login', { body: ROOT });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ username: 'root', role: 'admin', via: 'cookie' });
    const cookie = r.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(/^ferry_admin=[^;]+;/);
    expect(cookie).toMatch(/HttpOnly/i);
    expect(cookie).toMatch(/SameSite=Strict/i);
    const jar = cookie.split(';')[0] as string;
    const me = await call(base, 'GET', '/api/v1/admin/me', { headers: { cookie: jar } });
    expect(me.body).toEqual({ username: 'root', role: 'admin', via: 'cookie' });
    expect((await call(base, 'GET', '/api/v1/users', { headers: { cookie: jar } })).status).toBe(200);
    expect((await call(base, 'POST', '/api/v1/admin/logout', { headers: { cookie: jar } })).status).toBe(204);
    expect((await call(base, 'GET', '/api/v1/admin/me', { headers: { cookie: jar } })).status).toBe(401);
    expect((await call(base, 'GET', '/api/v1/users', { headers: { cookie: jar } })).status).toBe(401);
  });

  test('no credentials: 401; a wrong API key: 401', async () => {
    expect((await call(base, 'GET', '/api/v1/users')).status).toBe(401);
    const r = await call(base, 'GET', '/api/v1/users', { key: 'ferry_nope_nope' });
    expect(r.status).toBe(401);
    expect(r.body.error.code).toBe('PermissionDenied');
  });

  test('a viewer reads but may not change; a manager manages users but not connections or admins', async () => {
    await s.accounts.admins.create({ username: 'vic', password: 'viewer-pass-1', role: 'viewer' }, system);
    await s.accounts.admins.create({ username: 'mia', password: SECRETS.admin2, role: 'manager' }, system);
    const viewer = (await s.accounts.apiKeys.create({ name: 'v', owner: { admin: 'vic' } }, system)).secret;
    const manager = (await s.accounts.apiKeys.create({ name: 'm', owner: { admin: 'mia' } }, system)).secret;
    expect((await api('GET', '/api/v1/users', { key: viewer })).status).toBe(200);
    const denied = await api('POST', '/api/v1/users', { key: viewer, body: { username: 'x1' } });
    expect(denied.status).toBe(403);
    expect(denied.body.error.message).toMatch(/role viewer/);
    expect(
      (await api('POST', '/api/v1/users', { key: manager, body: { username: 'made-by-mia' } })).status,
    ).toBe(201);
    expect(
      (
        await api('POST', '/api/v1/connections', {
          key: manager,
          body: { name: 'c2', settings: { bucket: 'abc' } },
        })
      ).status,
    ).toBe(403);
    expect((await api('DELETE', '/api/v1/admins/vic', { key: manager })).status).toBe(403);
    // Who am I, by key.
    expect((await api('GET', '/api/v1/admin/me', { key: manager })).body).toEqual({
      username: 'mia',
      role: 'manager',
      via: 'apikey',
    });
  });
});

describe('CRUD of every resource', () => {
  test('users: create, get, list paged, patch changes only what is sent, delete', async () => {
    const made = await api('POST', '/api/v1/users', {
      body: { username: 'alice', password: SECRETS.alice, description: 'first', groups: [] },
    });
    expect(made.status).toBe(201);
    expect(made.body).toMatchObject({ username: 'alice', hasPassword: true, enabled: true });
    expect(made.body).not.toHaveProperty('password');
    await api('POST', '/api/v1/users', { body: { username: 'bob', password: SECRETS.bob } });
    const off = await api('PATCH', '/api/v1/users/bob', { body: { enabled: false } });
    expect(off.body.enabled).toBe(false);
    // A patch of another field leaves `enabled` as it was (no schema default sneaks in).
    const desc = await api('PATCH', '/api/v1/users/bob', { body: { description: 'the second' } });
    expect(desc.body).toMatchObject({ enabled: false, description: 'the second' });
    expect((await api('GET', '/api/v1/users/bob')).body.enabled).toBe(false);
    const page1 = await api('GET', '/api/v1/users?offset=0&limit=1');
    const page2 = await api('GET', '/api/v1/users?offset=1&limit=1');
    expect(page1.body.items).toHaveLength(1);
    expect(page2.body.items).toHaveLength(1);
    expect(page1.body.items[0].username).not.toBe(page2.body.items[0].username);
    expect(page2.body).toMatchObject({ offset: 1, limit: 1 });
    expect((await api('POST', '/api/v1/users', { body: { username: 'alice' } })).status).toBe(409);
    expect((await api('DELETE', '/api/v1/users/made-by-mia')).status).toBe(204);
    const gone = await api('GET', '/api/v1/users/made-by-mia');
    expect(gone.status).toBe(404);
    expect(gone.body.error.code).toBe('NotFound');
  });

  test('groups: members inherit; a group with members cannot be removed (409)', async () => {
    expect(
      (await api('POST', '/api/v1/groups', { body: { name: 'staff', quota: { bytes: 1_000_000 } } })).status,
    ).toBe(201);
    expect((await api('GET', '/api/v1/groups/staff')).body.quota).toEqual({ bytes: 1_000_000 });
    expect(
      (await api('PATCH', '/api/v1/groups/staff', { body: { description: 'people' } })).body,
    ).toMatchObject({
      description: 'people',
      quota: { bytes: 1_000_000 },
    });
    expect((await api('GET', '/api/v1/groups')).body.items.map((g: { name: string }) => g.name)).toContain(
      'staff',
    );
    await api('POST', '/api/v1/users', { body: { username: 'carol', groups: ['staff'] } });
    const quota = await api('GET', '/api/v1/users/carol/quota');
    expect(quota.body).toEqual({
      username: 'carol',
      limit: { bytes: 1_000_000 },
      used: { bytes: 0, files: 0 },
    });
    expect((await api('DELETE', '/api/v1/groups/staff')).status).toBe(409);
    await api('DELETE', '/api/v1/users/carol');
    expect((await api('DELETE', '/api/v1/groups/staff')).status).toBe(204);
  });

  test('connections: the secret goes in and never comes out; test says what works', async () => {
    const secret = 'not-the-real-secret-0123456789';
    const made = await api('POST', '/api/v1/connections', {
      body: {
        name: 'wrong',
        settings: {
          bucket: s.conn.bucket,
          endpoint: s.conn.endpoint,
          accessKeyId: s.conn.accessKeyId,
          secretAccessKey: secret,
        },
      },
    });
    expect(made.status).toBe(201);
    expect(made.body.secretsSet).toEqual(['secretAccessKey']);
    expect(made.text).not.toContain(secret);
    expect((await api('GET', '/api/v1/connections/wrong')).text).not.toContain(secret);
    expect((await api('GET', '/api/v1/connections')).body.items.length).toBe(2);
    const patched = await api('PATCH', '/api/v1/connections/wrong', { body: { showPartialUploads: true } });
    expect(patched.body).toMatchObject({ showPartialUploads: true, secretsSet: ['secretAccessKey'] });

    const good = await api('POST', '/api/v1/connections/main/test');
    expect(good.status).toBe(200);
    expect(good.body.ok).toBe(true);
    expect(good.body.checks.map((c: { operation: string }) => c.operation)).toEqual(
      expect.arrayContaining(['PutObject', 'GetObject', 'DeleteObject']),
    );
    expect(good.text).not.toContain(s.conn.secretAccessKey as string);
    expect(good.text).not.toContain(s.conn.accessKeyId as string);

    const bad = await api('POST', '/api/v1/connections/wrong/test');
    expect(bad.status).toBe(200);
    expect(bad.body.ok).toBe(false);
    expect(bad.body.failed).toMatchObject({
      step: expect.any(String),
      action: expect.stringMatching(/^s3:/),
    });
    expect(bad.text).not.toContain(secret);
    expect((await api('DELETE', '/api/v1/connections/wrong')).status).toBe(204);
    expect((await api('POST', '/api/v1/connections/wrong/test')).status).toBe(404);
  });

  test('mounts: create, list by owner, patch, delete', async () => {
    const made = await api('POST', '/api/v1/mounts', {
      body: {
        owner: { user: 'alice' },
        path: '/shared',
        target: { type: 's3', connection: 'main', prefix: 'shared' },
        readOnly: true,
      },
    });
    expect(made.status).toBe(201);
    const id = made.body.id as string;
    expect((await api('GET', `/api/v1/mounts/${id}`)).body).toMatchObject({
      path: '/shared',
      readOnly: true,
    });
    expect(
      (await api('GET', '/api/v1/mounts?user=alice')).body.items.map((m: { id: string }) => m.id),
    ).toEqual([id]);
    expect((await api('GET', '/api/v1/mounts?user=bob')).body.items).toEqual([]);
    expect((await api('GET', '/api/v1/mounts')).body.items).toHaveLength(1);
    expect((await api('PATCH', `/api/v1/mounts/${id}`, { body: { readOnly: false } })).body).toMatchObject({
      path: '/shared',
      readOnly: false,
    });
    expect((await api('DELETE', `/api/v1/mounts/${id}`)).status).toBe(204);
  });

  test('admins: create, get, list, change role, delete', async () => {
    const made = await api('POST', '/api/v1/admins', {
      body: { username: 'ada', password: 'ada-password-1', role: 'viewer' },
    });
    expect(made.status).toBe(201);
    expect(made.body).toMatchObject({ username: 'ada', role: 'viewer' });
    expect(made.text).not.toContain('ada-password-1');
    expect((await api('PATCH', '/api/v1/admins/ada', { body: { role: 'manager' } })).body.role).toBe(
      'manager',
    );
    expect((await api('GET', '/api/v1/admins/ada')).body.role).toBe('manager');
    expect(
      (await api('GET', '/api/v1/admins')).body.items.map((a: { username: string }) => a.username),
    ).toContain('ada');
    expect((await api('DELETE', '/api/v1/admins/ada')).status).toBe(204);
  });

  test('API keys: the secret is shown once, acts as its owner, dies with delete', async () => {
    const made = await api('POST', '/api/v1/api-keys', {
      body: { name: 'script', owner: { admin: 'root' } },
    });
    expect(made.status).toBe(201);
    const { secret } = made.body;
    expect(secret).toMatch(/^ferry_/);
    const id = made.body.key.id as string;
    const got = await api('GET', `/api/v1/api-keys/${id}`);
    expect(got.body).toMatchObject({ id, name: 'script', owner: { admin: 'root' } });
    expect(got.text).not.toContain(secret.slice(-12));
    expect((await api('GET', '/api/v1/api-keys?admin=root')).text).not.toContain(secret.slice(-12));
    expect(
      (await api('GET', '/api/v1/api-keys?admin=root')).body.items.map((k: { id: string }) => k.id),
    ).toContain(id);
    expect((await call(base, 'GET', '/api/v1/users', { key: secret })).status).toBe(200);
    expect((await api('DELETE', `/api/v1/api-keys/${id}`)).status).toBe(204);
    expect((await call(base, 'GET', '/api/v1/users', { key: secret })).status).toBe(401);
  });

  test('audit: logins and changes, filtered by kind and actor', async () => {
    const all = await api('GET', '/api/v1/audit?limit=1000');
    expect(all.status).toBe(200);
    expect(all.body.items.length).toBeGreaterThan(5);
    const logins = await api('GET', '/api/v1/audit?kind=admin-login&limit=1000');
    expect(logins.body.items.length).toBeGreaterThan(0);
    expect(logins.body.items.every((e: { kind: string }) => e.kind === 'admin-login')).toBe(true);
    expect(logins.body.items.map((e: { result: string }) => e.result)).toEqual(
      expect.arrayContaining(['ok', 'failed']),
    );
    const byMia = await api('GET', '/api/v1/audit?actor=admin:mia&limit=1000');
    expect(byMia.body.items.length).toBeGreaterThan(0);
    expect(byMia.body.items.every((e: { actor: string }) => e.actor === 'admin:mia')).toBe(true);
    const future = await api('GET', `/api/v1/audit?since=${new Date(Date.now() + 3600_000).toISOString()}`);
    expect(future.body.items).toEqual([]);
  });

  test('defender: failed admin logins ban the address; the ban is listed and lifted', async () => {
    const from = { 'x-forwarded-for': '10.1.2.3' };
    for (let i = 0; i < 5; i++) {
      const r = await call(base, 'POST', '/api/v1/admin/login', {
        headers: from,
        body: { username: 'root', password: `bad-${i}` },
      });
      expect(r.status).toBe(401);
    }
    // Banned now: even the right password is refused, before it is looked at.
    const refused = await call(base, 'POST', '/api/v1/admin/login', { headers: from, body: ROOT });
    expect(refused.status).toBe(403);
    expect(refused.body.error.message).toMatch(/too many failed logins/);
    // API keys from a banned address are refused too.
    expect((await call(base, 'GET', '/api/v1/users', { key, headers: from })).status).toBe(403);
    const list = await api('GET', '/api/v1/defender');
    const ban = list.body.items.find((b: { key: string }) => b.key.includes('10.1.2.3'));
    expect(ban).toMatchObject({ bannedUntil: expect.any(String) });
    expect((await api('POST', '/api/v1/defender/unban', { body: { key: ban.key } })).status).toBe(204);
    const userBan = list.body.items.find(
      (b: { key: string; bannedUntil?: string }) => b.key.includes('root') && b.bannedUntil,
    );
    if (userBan) await api('POST', '/api/v1/defender/unban', { body: { key: userBan.key } });
    expect((await call(base, 'POST', '/api/v1/admin/login', { headers: from, body: ROOT })).status).toBe(200);
  });
});

/** [method, url, body, the field the 400 must name] — each kind of bad input of each create route. */
const badInputs: [string, string, unknown, string][] = [
  ['POST', '/api/v1/users', {}, 'body.username'],
  ['POST', '/api/v1/users', { username: 'Bad Name' }, 'body.username'],
  ['POST', '/api/v1/users', { username: 'u1', password: 'short' }, 'body.password'],
  ['POST', '/api/v1/users', { username: 'u1', enabled: 'yes' }, 'body.enabled'],
  ['POST', '/api/v1/users', { username: 'u1', home: { type: 'ftp' } }, 'body.home.type'],
  ['POST', '/api/v1/users', { username: 'u1', home: { type: 's3' } }, 'body.home.connection'],
  ['POST', '/api/v1/users', { username: 'u1', home: { type: 'local', path: 'rel' } }, 'body.home.path'],
  ['POST', '/api/v1/users', { username: 'u1', allowedIps: ['999.1.1.1'] }, 'body.allowedIps.0'],
  ['POST', '/api/v1/users', { username: 'u1', permissions: { '/in': ['fly'] } }, 'body.permissions["/in"].0'],
  ['POST', '/api/v1/users', { username: 'u1', quota: { bytes: -1 } }, 'body.quota.bytes'],
  [
    'POST',
    '/api/v1/users',
    { username: 'u1', bandwidth: { uploadBytesPerSecond: 1.5 } },
    'body.bandwidth.uploadBytesPerSecond',
  ],
  ['POST', '/api/v1/users', { username: 'u1', expiresAt: 'tomorrow' }, 'body.expiresAt'],
  ['POST', '/api/v1/users', { username: 'u1', sshKeys: ['not a key'] }, 'body.sshKeys.0'],
  ['POST', '/api/v1/users', { username: 'u1', groups: ['Bad Group'] }, 'body.groups.0'],
  ['POST', '/api/v1/users', { username: 'u1', setstatMode: 'maybe' }, 'body.setstatMode'],
  ['POST', '/api/v1/groups', {}, 'body.name'],
  ['POST', '/api/v1/groups', { name: 'g1', maxSessions: 0 }, 'body.maxSessions'],
  ['POST', '/api/v1/groups', { name: 'g1', deniedIps: ['10.0.0.0/99'] }, 'body.deniedIps.0'],
  ['POST', '/api/v1/connections', {}, 'body.name'],
  ['POST', '/api/v1/connections', { name: 'c1', settings: { bucket: 'ab' } }, 'body.settings.bucket'],
  [
    'POST',
    '/api/v1/connections',
    { name: 'c1', settings: { bucket: 'abc', endpoint: 'ftp://x' } },
    'body.settings.endpoint',
  ],
  [
    'POST',
    '/api/v1/connections',
    { name: 'c1', settings: { bucket: 'abc', sse: 'rot13' } },
    'body.settings.sse',
  ],
  ['POST', '/api/v1/connections', { name: 'c1', showPartialUploads: 1 }, 'body.showPartialUploads'],
  ['POST', '/api/v1/mounts', { owner: { user: 'alice' }, path: '/m' }, 'body.target'],
  [
    'POST',
    '/api/v1/mounts',
    { owner: { user: 'alice' }, path: 'rel', target: { type: 'local', path: '/x' } },
    'body.path',
  ],
  [
    'POST',
    '/api/v1/mounts',
    { owner: { user: 'alice' }, path: '/a/../b', target: { type: 'local', path: '/x' } },
    'body.path',
  ],
  [
    'POST',
    '/api/v1/mounts',
    { owner: { user: 'alice' }, path: '/', target: { type: 'local', path: '/x' } },
    'body.path',
  ],
  [
    'POST',
    '/api/v1/mounts',
    { owner: {}, path: '/m', target: { type: 'local', path: '/x' } },
    'body.owner.user',
  ],
  [
    'POST',
    '/api/v1/mounts',
    { owner: { user: 'alice' }, path: '/m', target: { type: 'local', path: '/x' }, permissions: ['fly'] },
    'body.permissions.0',
  ],
  ['POST', '/api/v1/admins', { username: 'a1', password: 'short' }, 'body.password'],
  ['POST', '/api/v1/admins', { username: 'a1', password: 'long-enough-1', role: 'king' }, 'body.role'],
  ['POST', '/api/v1/admins', { password: 'long-enough-1' }, 'body.username'],
  ['POST', '/api/v1/api-keys', {}, 'body.name'],
  ['POST', '/api/v1/api-keys', { name: 'k', owner: { robot: 'x' } }, 'body.owner.admin'],
  ['POST', '/api/v1/api-keys', { name: 'k', owner: { admin: 'root' }, expiresAt: 'soon' }, 'body.expiresAt'],
  ['POST', '/api/v1/admin/login', {}, 'body.username'],
  ['POST', '/api/v1/admin/login', { username: 'root' }, 'body.password'],
  ['POST', '/api/v1/user/login', { password: 'x' }, 'body.username'],
  ['POST', '/api/v1/user/login', { username: 'alice', password: 7 }, 'body.password'],
  ['POST', '/api/v1/defender/unban', {}, 'body.key'],
  ['POST', '/api/v1/user/files/mkdir', {}, 'body.path'],
  ['POST', '/api/v1/user/files/rename', { from: '/a' }, 'body.to'],
  ['POST', '/api/v1/user/files/rename', { from: '/a', to: '/b', replace: 'yes' }, 'body.replace'],
  ['PUT', '/api/v1/user/files/content', undefined, 'query.path'],
  ['GET', '/api/v1/users?limit=abc', undefined, 'query.limit'],
  ['GET', '/api/v1/audit?since=yesterday', undefined, 'query.since'],
  ['GET', '/api/v1/user/files?limit=0', undefined, 'query.limit'],
];

describe('precise 400s', () => {
  test.each(badInputs)('%s %s %j → 400 naming %s', async (method, url, body, field) => {
    const basic = `Basic ${Buffer.from(`alice:${SECRETS.alice}`).toString('base64')}`;
    const headers: Record<string, string> = url.includes('/user/') ? { authorization: basic } : {};
    const r = await call(base, method, url, { key: url.includes('/user/') ? undefined : key, body, headers });
    answers.push(r.text);
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('InvalidArgument');
    expect(r.body.error.field).toBe(field);
    expect(r.body.error.message.startsWith(`${field}: `)).toBe(true);
  });

  test('a body that is not JSON: 400; a connection without a bucket: 400 from the service', async () => {
    const r = await fetch(`${base}/api/v1/users`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: '{"username": ',
    });
    expect(r.status).toBe(400);
    expect(((await r.json()) as { error: { code: string } }).error.code).toBe('InvalidArgument');
    const nb = await api('POST', '/api/v1/connections', { body: { name: 'c1', settings: {} } });
    expect(nb.status).toBe(400);
    expect(nb.body.error.message).toMatch(/bucket/);
  });
});

/** Secrets handed out during the tests (API keys, cookie tokens): never in a log line. */
const issued: string[] = [];

describe('the user file API', () => {
  const basic = (user: string, password: string) => ({
    authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`,
  });
  const files = (method: string, path: string, options: Parameters<typeof call>[3] = {}) =>
    call(base, method, `/api/v1/user${path}`, { headers: basic('alice', SECRETS.alice), ...options }).then(
      (r) => {
        answers.push(r.text);
        return r;
      },
    );

  test('cookie login, Basic and a user API key all reach the file API; admins and users stay apart', async () => {
    const login = await call(base, 'POST', '/api/v1/user/login', {
      body: { username: 'alice', password: SECRETS.alice },
    });
    expect(login.status).toBe(200);
    const cookie = login.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(/^ferry_user=[^;]+;.*HttpOnly/i);
    expect(cookie).toMatch(/SameSite=Strict/i);
    const jar = cookie.split(';')[0] as string;
    issued.push(jar.split('=')[1] as string);
    expect((await call(base, 'GET', '/api/v1/user/me', { headers: { cookie: jar } })).body).toEqual({
      username: 'alice',
    });
    expect((await call(base, 'POST', '/api/v1/user/logout', { headers: { cookie: jar } })).status).toBe(204);
    expect((await call(base, 'GET', '/api/v1/user/me', { headers: { cookie: jar } })).status).toBe(401);

    const wrong = await call(base, 'POST', '/api/v1/user/login', {
      body: { username: 'alice', password: 'nope-nope' },
    });
    expect(wrong.status).toBe(401);
    const ghost = await call(base, 'POST', '/api/v1/user/login', {
      body: { username: 'ghost', password: 'nope-nope' },
    });
    // Unknown user and wrong password: the same answer.
    expect(ghost.body).toEqual(wrong.body);

    expect((await files('GET', '/me')).body).toEqual({ username: 'alice' });
    const badBasic = await files('GET', '/me', { headers: basic('alice', 'wrong-password') });
    expect(badBasic.status).toBe(401);
    expect(badBasic.headers.get('www-authenticate')).toMatch(/^Basic/);
    expect((await files('GET', '/me', { headers: {} })).status).toBe(401);

    const made = await api('POST', '/api/v1/api-keys', {
      body: { name: 'alice script', owner: { user: 'alice' } },
    });
    const userKey = made.body.secret as string;
    issued.push(userKey);
    expect((await call(base, 'GET', '/api/v1/user/me', { key: userKey })).body).toEqual({
      username: 'alice',
    });
    expect((await call(base, 'GET', '/api/v1/users', { key: userKey })).status).toBe(403);
    expect((await call(base, 'GET', '/api/v1/user/me', { key })).status).toBe(403);
  });

  test('mkdir, upload, stat, list in pages, download with Range, rename, delete', async () => {
    expect((await files('POST', '/files/mkdir', { body: { path: '/docs' } })).status).toBe(201);
    const up = await files('PUT', '/files/content?path=/docs/a.txt', {
      headers: { ...basic('alice', SECRETS.alice), 'content-type': 'text/plain' },
      body: undefined,
    });
    // (an empty body first: a 0-byte file is a file)
    expect(up.status).toBe(201);
    expect(up.body).toMatchObject({ path: '/docs/a.txt', type: 'file', size: 0 });
    const put = await fetch(`${base}/api/v1/user/files/content?path=/docs/a.txt`, {
      method: 'PUT',
      headers: { ...basic('alice', SECRETS.alice), 'content-type': 'application/json' },
      body: 'hello world',
    });
    expect(put.status).toBe(201);
    expect(await put.json()).toMatchObject({ path: '/docs/a.txt', name: 'a.txt', size: 11 });
    for (const n of ['b', 'c', 'd']) {
      await fetch(`${base}/api/v1/user/files/content?path=/docs/${n}.txt`, {
        method: 'PUT',
        headers: basic('alice', SECRETS.alice),
        body: n,
      });
    }
    expect((await files('GET', '/files/stat?path=/docs/a.txt')).body).toMatchObject({
      type: 'file',
      size: 11,
    });
    expect((await files('GET', '/files/stat?path=/docs')).body).toMatchObject({ path: '/docs', type: 'dir' });

    const p1 = await files('GET', '/files?path=/docs&limit=3');
    expect(p1.body.entries.map((e: { name: string }) => e.name)).toEqual(['a.txt', 'b.txt', 'c.txt']);
    expect(p1.body.next).toBeDefined();
    const p2 = await files('GET', `/files?path=/docs&limit=3&startAfter=${encodeURIComponent(p1.body.next)}`);
    expect(p2.body.entries.map((e: { name: string }) => e.name)).toEqual(['d.txt']);
    expect(p2.body.next).toBeUndefined();

    const whole = await files('GET', '/files/content?path=/docs/a.txt');
    expect(whole.status).toBe(200);
    expect(whole.text).toBe('hello world');
    expect(whole.headers.get('accept-ranges')).toBe('bytes');
    const part = await files('GET', '/files/content?path=/docs/a.txt', {
      headers: { ...basic('alice', SECRETS.alice), range: 'bytes=6-' },
    });
    expect(part.status).toBe(206);
    expect(part.text).toBe('world');
    expect(part.headers.get('content-range')).toBe('bytes 6-10/11');
    const past = await files('GET', '/files/content?path=/docs/a.txt', {
      headers: { ...basic('alice', SECRETS.alice), range: 'bytes=11-' },
    });
    expect(past.status).toBe(416);
    expect(past.headers.get('content-range')).toBe('bytes */11');

    expect(
      (await files('POST', '/files/rename', { body: { from: '/docs/a.txt', to: '/docs/z.txt' } })).body,
    ).toEqual({
      from: '/docs/a.txt',
      to: '/docs/z.txt',
    });
    const clash = await files('POST', '/files/rename', { body: { from: '/docs/z.txt', to: '/docs/b.txt' } });
    expect(clash.status).toBe(409);
    expect(clash.body.error.code).toBe('AlreadyExists');
    expect(
      (
        await files('POST', '/files/rename', {
          body: { from: '/docs/z.txt', to: '/docs/b.txt', replace: true },
        })
      ).status,
    ).toBe(200);
    expect((await files('GET', '/files/content?path=/docs/b.txt')).text).toBe('hello world');

    const notEmpty = await files('DELETE', '/files?path=/docs');
    expect(notEmpty.status).toBe(409);
    expect(notEmpty.body.error.code).toBe('NotEmpty');
    for (const n of ['b', 'c', 'd'])
      expect((await files('DELETE', `/files?path=/docs/${n}.txt`)).status).toBe(204);
    expect((await files('DELETE', '/files?path=/docs')).status).toBe(204);
    const gone = await files('GET', '/files/stat?path=/docs');
    expect(gone.status).toBe(404);
    expect(gone.body.error.code).toBe('NotFound');
  });

  test('quota usage and metrics follow the transfers', async () => {
    await fetch(`${base}/api/v1/user/files/content?path=/kept.bin`, {
      method: 'PUT',
      headers: basic('alice', SECRETS.alice),
      body: Buffer.alloc(1000, 7),
    });
    const q = await api('GET', '/api/v1/users/alice/quota');
    expect(q.body.used).toEqual({ bytes: 1000, files: 1 });
    const m = (await call(base, 'GET', '/metrics')).text;
    expect(m).toMatch(/ferry_transfers_total\{protocol="http",direction="up",result="ok"\} [1-9]/);
    expect(m).toMatch(/ferry_transfer_bytes_total\{protocol="http",direction="up"\} [1-9]/);
    expect(m).toMatch(/ferry_transfers_total\{protocol="http",direction="down",result="ok"\} [1-9]/);
    expect(m).toMatch(/ferry_errors_total\{protocol="http",code="AlreadyExists"\} [1-9]/);
    expect(m).toMatch(/ferry_s3_requests_total\{operation="PutObject",result="ok"\} [1-9]/);
    expect(m).toMatch(/ferry_s3_request_duration_seconds_count\{operation="PutObject"\} [1-9]/);
    expect(m).toMatch(
      /ferry_http_requests_total\{method="PUT",route="\/api\/v1\/user\/files\/content",status="201"\} [1-9]/,
    );
  });
});

describe('no secret in answers or logs; every documented route exercised', () => {
  test('passwords, connection secrets, API keys and cookie tokens never appear', async () => {
    const never = [
      ...Object.values(SECRETS),
      ROOT.password,
      'viewer-pass-1',
      'ada-password-1',
      'not-the-real-secret-0123456789',
      s.conn.secretAccessKey as string,
    ];
    const all = answers.join('\n');
    for (const secret of never) expect(all).not.toContain(secret);
    const logs = s.logs.join('');
    expect(logs).toContain('request completed');
    for (const secret of [...never, key, ...issued]) expect(logs).not.toContain(secret);
  });

  test('every operation of the OpenAPI document was called by this file', async () => {
    const doc = (await call(base, 'GET', '/api/openapi.json')).body;
    const ops: string[] = [];
    for (const [path, item] of Object.entries<Record<string, unknown>>(doc.paths))
      for (const method of Object.keys(item)) ops.push(`${method.toUpperCase()} ${path}`);
    expect(ops.length).toBeGreaterThan(40);
    expect(ops.filter((op) => !s.covered.has(op))).toEqual([]);
  });
});
