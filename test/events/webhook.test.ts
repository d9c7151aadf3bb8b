import { createHmac } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/server/serve.js';
import { eventually, FAST_RETRIES, Receiver, SYSTEM, startFerry, upload } from './support.js';

/**
 * Webhook actions through a real in-process `ferry serve` (SQLite store, local storage), with a
 * real HTTP receiver on loopback. FAST_RETRIES makes the backoff 50 ms doubling to 400 ms, so an
 * outage of a few seconds here stands for the issue's minute (the code path is the same: the
 * receiver's port is closed, attempts fail with ECONNREFUSED and are retried until it is back).
 */
describe('event rules: webhooks', () => {
  let ferry: Awaited<ReturnType<typeof startFerry>>;
  let server: RunningServer;
  const receiver = new Receiver();
  const password = 'alice-password-1';

  beforeAll(async () => {
    await receiver.up();
    ferry = await startFerry(FAST_RETRIES);
    server = ferry.server;
    await server.accounts.users.create({ username: 'alice', password }, SYSTEM);
    await server.accounts.users.create({ username: 'bob', password }, SYSTEM);
  });
  afterAll(async () => {
    await server?.stop(1000);
    await receiver.down();
  });
  afterEach(async () => {
    for (const r of await server.events.rules.list()) await server.events.rules.remove(r.name, SYSTEM);
    receiver.received.length = 0;
    receiver.status = 200;
    await receiver.up().catch(() => {});
  });

  it('an upload through the HTTP file API is POSTed, signed with the rule secret', async () => {
    await server.events.rules.create(
      {
        name: 'signed',
        on: ['upload'],
        actions: [
          { type: 'webhook', url: receiver.url, secret: 'hook-secret', headers: { 'x-team': 'ops' } },
        ],
      },
      SYSTEM,
    );
    await upload(ferry.url, 'alice', password, '/report.txt', 'hello events');
    await eventually(() => receiver.received.length === 1, 'one POST');
    const [got] = receiver.received;
    const h = got?.headers ?? {};
    const expected = createHmac('sha256', 'hook-secret')
      .update(`${h['x-ferry-timestamp']}.${got?.body}`)
      .digest('hex');
    expect(h['x-ferry-signature']).toBe(`sha256=${expected}`);
    expect(
      createHmac('sha256', 'wrong').update(`${h['x-ferry-timestamp']}.${got?.body}`).digest('hex'),
    ).not.toBe(expected);
    expect(h['x-team']).toBe('ops');
    expect(h['x-ferry-event']).toBe('upload');
    const body = JSON.parse(got?.body ?? '{}');
    expect(body.id).toBe(h['x-ferry-delivery']);
    expect(body.rule).toBe('signed');
    expect(body.event).toMatchObject({
      kind: 'upload',
      username: 'alice',
      path: '/report.txt',
      bytes: 12,
      result: 'ok',
    });
    // The receiver has the POST before the node records `done` (after the answer).
    await eventually(
      async () => (await server.events.deliveries.list({ rule: 'signed' }))[0]?.status === 'done',
      'recorded done',
    );
    const [row] = await server.events.deliveries.list({ rule: 'signed' });
    expect(row).toMatchObject({ id: h['x-ferry-delivery'], status: 'done', attempts: 1 });
    // The secret is never shown back.
    const view = await server.events.rules.get('signed');
    expect(JSON.stringify(view)).not.toContain('hook-secret');
    expect(view.actions[0]).toMatchObject({ type: 'webhook', secretSet: true });
  });

  it('a receiver that is down for a while gets every event afterwards, each once', async () => {
    await server.events.rules.create(
      { name: 'outage', on: ['upload', 'delete'], actions: [{ type: 'webhook', url: receiver.url }] },
      SYSTEM,
    );
    await receiver.down();
    for (let i = 0; i < 20; i++) await upload(ferry.url, 'alice', password, `/outage/f${i}.txt`, `file ${i}`);
    // Down long enough for several failed attempts of every delivery.
    await eventually(
      async () =>
        (await server.events.deliveries.list({ rule: 'outage', limit: 1000 })).every((d) => d.attempts >= 4),
      'every delivery failed at least 4 times',
    );
    const pending = await server.events.deliveries.list({ rule: 'outage', limit: 1000 });
    expect(pending).toHaveLength(20);
    expect(pending.every((d) => d.status !== 'done' && /ECONNREFUSED/.test(d.lastError ?? ''))).toBe(true);
    expect(receiver.received).toHaveLength(0);
    await receiver.up();
    await eventually(() => receiver.counts().size === 20, 'all 20 deliveries arrived');
    await eventually(
      async () =>
        (await server.events.deliveries.list({ rule: 'outage', limit: 1000 })).every(
          (d) => d.status === 'done',
        ),
      'all done',
    );
    // A little longer: nothing arrives twice.
    await new Promise((r) => setTimeout(r, 1000));
    expect([...receiver.counts().values()].every((n) => n === 1)).toBe(true);
    expect(receiver.received).toHaveLength(20);
    const paths = receiver.received.map((r) => JSON.parse(r.body).event.path).sort();
    expect(new Set(paths).size).toBe(20);
  });

  it('a delivery is dead after maxAttempts (a 500 each time) and can be retried', async () => {
    const dead = await startFerry({ ...FAST_RETRIES, FERRY_EVENTS__MAX_ATTEMPTS: '3' });
    try {
      await dead.server.accounts.users.create({ username: 'carol', password }, SYSTEM);
      await dead.server.events.rules.create(
        { name: 'failing', on: ['mkdir'], actions: [{ type: 'webhook', url: receiver.url }] },
        SYSTEM,
      );
      receiver.status = 500;
      const res = await fetch(`${dead.url}/api/v1/user/files/mkdir`, {
        method: 'POST',
        headers: {
          authorization: `Basic ${Buffer.from(`carol:${password}`).toString('base64')}`,
          'content-type': 'application/json',
        },
        body: JSON.stringify({ path: '/newdir' }),
      });
      expect(res.status).toBeLessThan(300);
      await eventually(
        async () => (await dead.server.events.deliveries.list({ status: 'dead' })).length === 1,
        'the delivery is dead',
      );
      const [d] = await dead.server.events.deliveries.list({ status: 'dead' });
      expect(d).toMatchObject({ attempts: 3, lastError: 'webhook: HTTP 500' });
      expect(receiver.received).toHaveLength(3);
      expect(new Set(receiver.received.map((r) => r.headers['x-ferry-delivery']))).toEqual(new Set([d?.id]));
      // Retried by the admin once the receiver is fixed.
      receiver.status = 200;
      await dead.server.events.deliveries.retry(d?.id as string, SYSTEM);
      await eventually(
        async () => (await dead.server.events.deliveries.get(d?.id as string)).status === 'done',
        'the retried delivery is done',
      );
      expect(receiver.received).toHaveLength(4);
    } finally {
      await dead.server.stop(1000);
    }
  });

  it('filters: user, path glob and size really filter', async () => {
    await server.events.rules.create(
      {
        name: 'filtered',
        on: ['upload'],
        filters: { users: ['alice'], paths: ['/in/**/*.csv'], minSize: 5, maxSize: 10 },
        actions: [{ type: 'webhook', url: receiver.url }],
      },
      SYSTEM,
    );
    await upload(ferry.url, 'alice', password, '/in/a/ok.csv', '123456'); // matches
    await upload(ferry.url, 'bob', password, '/in/a/bob.csv', '123456'); // other user
    await upload(ferry.url, 'alice', password, '/in/a/no.txt', '123456'); // other extension
    await upload(ferry.url, 'alice', password, '/out/no.csv', '123456'); // other folder
    await upload(ferry.url, 'alice', password, '/in/small.csv', '1234'); // too small
    await upload(ferry.url, 'alice', password, '/in/big.csv', '12345678901'); // too big
    await upload(ferry.url, 'alice', password, '/in/ok2.csv', '1234567890'); // matches (10 bytes)
    await eventually(() => receiver.received.length >= 2, 'two POSTs');
    // Every event above was matched (or not) before the next upload answered; the queue is empty.
    await eventually(
      async () =>
        (await server.events.deliveries.list({ rule: 'filtered' })).every((d) => d.status === 'done'),
      'done',
    );
    const paths = receiver.received.map((r) => JSON.parse(r.body).event.path).sort();
    expect(paths).toEqual(['/in/a/ok.csv', '/in/ok2.csv']);
  });

  it('a group filter takes only members', async () => {
    await server.accounts.groups.create({ name: 'finance' }, SYSTEM);
    await server.accounts.users.update('bob', { groups: ['finance'] }, SYSTEM);
    await server.events.rules.create(
      {
        name: 'by-group',
        on: ['upload'],
        filters: { groups: ['finance'] },
        actions: [{ type: 'webhook', url: receiver.url }],
      },
      SYSTEM,
    );
    await upload(ferry.url, 'alice', password, '/g-alice.txt', 'x');
    await upload(ferry.url, 'bob', password, '/g-bob.txt', 'x');
    await eventually(() => receiver.received.length >= 1, 'one POST');
    await new Promise((r) => setTimeout(r, 500));
    expect(receiver.received.map((r) => JSON.parse(r.body).event.username)).toEqual(['bob']);
  });
});
