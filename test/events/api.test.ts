import { Validator } from '@seriousme/openapi-schema-validator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/server/serve.js';
import { ADMIN_PASSWORD, eventually, FAST_RETRIES, Receiver, SYSTEM, startFerry, upload } from './support.js';

/** The admin API of event rules over HTTP (an in-process `ferry serve`), and its OpenAPI document. */
describe('/api/v1/event-rules and /api/v1/event-deliveries', () => {
  let ferry: Awaited<ReturnType<typeof startFerry>>;
  let server: RunningServer;
  let cookie: string;
  let viewerCookie: string;
  const receiver = new Receiver();

  const login = async (username: string, password: string) => {
    const res = await fetch(`${ferry.url}/api/v1/admin/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username, password }),
    });
    expect(res.status).toBe(200);
    return (res.headers.get('set-cookie') ?? '').split(';')[0] as string;
  };
  const call = async (method: string, path: string, body?: unknown, as = cookie) => {
    const res = await fetch(`${ferry.url}/api/v1${path}`, {
      method,
      headers: { cookie: as, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, text, body: text ? JSON.parse(text) : undefined };
  };

  beforeAll(async () => {
    await receiver.up();
    receiver.status = 500;
    ferry = await startFerry({ ...FAST_RETRIES, FERRY_EVENTS__RETRY_BASE_MILLISECONDS: '60000' });
    server = ferry.server;
    cookie = await login('admin', ADMIN_PASSWORD);
    await server.accounts.admins.create(
      { username: 'vera', password: 'vera-password-1', role: 'viewer' },
      SYSTEM,
    );
    viewerCookie = await login('vera', 'vera-password-1');
    await server.accounts.users.create({ username: 'ivan', password: 'ivan-password-1' }, SYSTEM);
  });
  afterAll(async () => {
    await server?.stop(1000);
    await receiver.down();
  });

  it('the OpenAPI document validates and has the routes', async () => {
    const doc = (await call('GET', '/../openapi.json')).body;
    const result = await new Validator().validate(doc);
    expect(result.errors).toBeUndefined();
    for (const p of [
      '/api/v1/event-rules',
      '/api/v1/event-rules/{name}',
      '/api/v1/event-deliveries',
      '/api/v1/event-deliveries/{id}',
      '/api/v1/event-deliveries/{id}/retry',
    ])
      expect(Object.keys(doc.paths)).toContain(p);
  });

  it('create, read, change, remove; 400 names the field; a viewer may read, not change', async () => {
    const bad = await call('POST', '/event-rules', {
      name: 'r1',
      on: ['upload'],
      actions: [{ type: 'webhook', url: 'not a url' }],
    });
    expect(bad.status).toBe(400);
    expect(bad.text).toMatch(/actions\.0\.url/);
    const badSize = await call('POST', '/event-rules', {
      name: 'r1',
      on: ['upload'],
      filters: { minSize: 10, maxSize: 5 },
      actions: [{ type: 'webhook', url: receiver.url }],
    });
    expect(badSize.status).toBe(400);
    expect(badSize.text).toMatch(/filters\.maxSize: must be at least minSize/);
    const made = await call('POST', '/event-rules', {
      name: 'r1',
      on: ['upload'],
      actions: [{ type: 'webhook', url: receiver.url, secret: 'api-secret-value' }],
    });
    expect(made.status).toBe(201);
    expect(made.body.actions[0]).toMatchObject({ type: 'webhook', secretSet: true, timeoutSeconds: 10 });
    const dup = await call('POST', '/event-rules', {
      name: 'r1',
      on: ['upload'],
      actions: [{ type: 'webhook', url: receiver.url }],
    });
    expect(dup.status).toBe(409);
    // A viewer reads; only an admin changes.
    expect((await call('GET', '/event-rules/r1', undefined, viewerCookie)).status).toBe(200);
    const denied = await call('PATCH', '/event-rules/r1', { enabled: false }, viewerCookie);
    expect(denied.status).toBe(403);
    // The same URL without a secret keeps it; a new URL drops it.
    const kept = await call('PATCH', '/event-rules/r1', {
      actions: [{ type: 'webhook', url: receiver.url, timeoutSeconds: 5 }],
    });
    expect(kept.status).toBe(200);
    expect(kept.body.actions[0]).toMatchObject({ secretSet: true, timeoutSeconds: 5 });
    const list = await call('GET', '/event-rules');
    expect(list.body.items.map((r: { name: string }) => r.name)).toEqual(['r1']);
    const all = [bad, badSize, made, kept, list].map((r) => r.text).join('\n');
    expect(all).not.toContain('api-secret-value');
    // The delivery is signed with the kept secret.
    await upload(ferry.url, 'ivan', 'ivan-password-1', '/x.txt', 'x');
    await eventually(() => receiver.received.length === 1, 'one attempt');
    expect(receiver.received[0]?.headers['x-ferry-signature']).toMatch(/^sha256=[0-9a-f]{64}$/);
    const changed = await call('PATCH', '/event-rules/r1', {
      actions: [{ type: 'webhook', url: `${receiver.url}?v=2` }],
    });
    expect(changed.body.actions[0].secretSet).toBe(false);
    // The pending delivery (retry in a minute) is listed; retrying it now is refused (409).
    const pending = await call('GET', '/event-deliveries?status=pending&rule=r1');
    expect(pending.status).toBe(200);
    expect(pending.body.items).toHaveLength(1);
    const id = pending.body.items[0].id as string;
    expect(pending.body.items[0]).toMatchObject({
      attempts: 1,
      lastError: 'webhook: HTTP 500',
      actionType: 'webhook',
    });
    expect((await call('GET', `/event-deliveries/${id}`)).body.id).toBe(id);
    expect((await call('POST', `/event-deliveries/${id}/retry`)).status).toBe(409);
    expect((await call('POST', '/event-deliveries/nope/retry')).status).toBe(404);
    expect((await call('POST', `/event-deliveries/${id}/retry`, undefined, viewerCookie)).status).toBe(403);
    const removed = await call('DELETE', '/event-rules/r1');
    expect(removed.status).toBe(204);
    expect((await call('GET', '/event-rules/r1')).status).toBe(404);
    const audit = await server.accounts.audit.list({ kind: 'admin' });
    const paths = audit.filter((e) => e.path === 'event-rules/r1').map((e) => e.detail?.action);
    expect(paths.sort()).toEqual(['create', 'remove', 'update', 'update']);
    expect(JSON.stringify(audit)).not.toContain('api-secret-value');
  });
});
