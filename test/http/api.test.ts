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
