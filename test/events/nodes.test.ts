import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../../src/db/database.js';
import { DeliveryQueue } from '../../src/events/queue.js';
import { eventsDb } from '../../src/events/tables.js';
import { freshPostgresUrl } from '../support/postgres.js';
import { eventually, FAST_RETRIES, Receiver, SYSTEM, startFerry, upload } from './support.js';

const event = (i: number) => ({
  kind: 'upload',
  username: 'u',
  protocol: 'http',
  remote: '127.0.0.1',
  path: `/f${i}`,
  durationMs: 1,
  result: 'ok',
  at: new Date().toISOString(),
  node: 'test',
});

/**
 * Several nodes on one PostgreSQL: every node queues what its session layer saw, every node's
 * worker claims due rows (FOR UPDATE SKIP LOCKED, a lease), and each event reaches the receiver
 * once.
 */
describe('event rules on two nodes (PostgreSQL)', () => {
  const receiver = new Receiver();
  let a: Awaited<ReturnType<typeof startFerry>>;
  let b: Awaited<ReturnType<typeof startFerry>>;
  const password = 'hank-password-1';

  beforeAll(async () => {
    await receiver.up();
    const env = {
      ...FAST_RETRIES,
      FERRY_DATABASE: await freshPostgresUrl(),
      FERRY_SECRET_KEY: randomBytes(32).toString('hex'),
    };
    a = await startFerry(env);
    b = await startFerry(env);
  });
  afterAll(async () => {
    await a?.server.stop(1000);
    await b?.server.stop(1000);
    await receiver.down();
  });

  it('events uploaded through both nodes while the receiver is down arrive once each when it is back', async () => {
    await a.server.accounts.users.create({ username: 'hank', password }, SYSTEM);
    await a.server.events.rules.create(
      { name: 'both', on: ['upload'], actions: [{ type: 'webhook', url: receiver.url }] },
      SYSTEM,
    );
    // Node B learns of the rule through the change feed (LISTEN/NOTIFY).
    await eventually(async () => {
      await upload(b.url, 'hank', password, '/probe.txt', 'probe');
      return (await b.server.events.deliveries.list({ rule: 'both' })).length > 0;
    }, 'node B matches the new rule');
    await eventually(() => receiver.received.length >= 1, 'the probe arrived');
    receiver.received.length = 0;
    await receiver.down();
    for (let i = 0; i < 40; i++) {
      const via = i % 2 === 0 ? a : b;
      await upload(via.url, 'hank', password, `/n/${i}.txt`, `file ${i}`);
    }
    await eventually(
      async () =>
        (await a.server.events.deliveries.list({ status: 'pending', limit: 1000 })).filter((d) =>
          d.event.path?.startsWith('/n/'),
        ).length === 40,
      'forty pending',
    );
    await receiver.up();
    await eventually(
      () => receiver.counts((r) => JSON.parse(r.body).event.path.startsWith('/n/')).size >= 40,
      'forty deliveries',
    );
    await eventually(
      async () =>
        (await a.server.events.deliveries.list({ rule: 'both', limit: 1000 })).every(
          (d) => d.status === 'done',
        ),
      'all done',
    );
    await new Promise((r) => setTimeout(r, 1000));
    // (A second probe may arrive late: a probe is queued a moment after its upload answers.)
    const counts = receiver.counts((r) => JSON.parse(r.body).event.path.startsWith('/n/'));
    expect(counts.size).toBe(40);
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
    const rows = (await a.server.events.deliveries.list({ rule: 'both', limit: 1000 })).filter((d) =>
      d.event.path?.startsWith('/n/'),
    );
    const queuedBy = new Set(rows.map((d) => d.event.node));
    expect(queuedBy).toEqual(new Set([a.server.events.node, b.server.events.node]));
    // Which node delivered what (both workers claim; the split depends on timing).
    const deliveredBy = new Map<string, number>();
    for (const d of rows) deliveredBy.set(d.node as string, (deliveredBy.get(d.node as string) ?? 0) + 1);
    console.log('delivered by node:', Object.fromEntries(deliveredBy));
  });

  describe('the queue itself', () => {
    let store1: Store;
    let store2: Store;
    beforeAll(async () => {
      const url = await freshPostgresUrl();
      store1 = await openStore(url);
      store2 = await openStore(url);
    });
    afterAll(async () => {
      await store1?.close();
      await store2?.close();
    });

    it('two nodes claiming at once never get the same row; a lapsed lease is taken over; the stale node cannot finish', async () => {
      const q1 = new DeliveryQueue(eventsDb(store1.db), 'postgres');
      const q2 = new DeliveryQueue(eventsDb(store2.db), 'postgres');
      await q1.add(
        Array.from({ length: 200 }, (_, i) => ({
          rule: 'r',
          action: 0,
          actionType: 'webhook',
          event: event(i),
        })),
      );
      const claims = await Promise.all(
        Array.from({ length: 10 }, (_, i) => (i % 2 ? q1 : q2).claim(`node-${i}`, 25, 60_000)),
      );
      const ids = claims.flat().map((c) => c.id);
      expect(ids).toHaveLength(200);
      expect(new Set(ids).size).toBe(200);
      // A node that claimed and died: its lease runs out, another node claims the row.
      await q1.add([{ rule: 'r', action: 0, actionType: 'webhook', event: event(999) }]);
      const [dying] = await q1.claim('dying', 1, 1);
      expect(dying).toBeDefined();
      await new Promise((r) => setTimeout(r, 20));
      const [taken] = await q2.claim('survivor', 1, 60_000);
      expect(taken?.id).toBe(dying?.id);
      expect(taken?.attempts).toBe(2);
      expect(await q1.done(dying?.id as string, 'dying')).toBe(false);
      expect(await q2.done(taken?.id as string, 'survivor')).toBe(true);
      expect((await q1.get(taken?.id as string)).status).toBe('done');
    });
  });
});
