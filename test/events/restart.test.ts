import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, FAST_RETRIES, Receiver, SYSTEM, startFerry, upload } from './support.js';

/**
 * Delivery survives a restart: the queue is in the store. The server is stopped between the
 * event and its delivery (as `ferry serve` stops on SIGTERM: startServer's stop), then started
 * again on the same data folder; the event is delivered then, once.
 */
describe('event rules: a restart between the event and its delivery', () => {
  const receiver = new Receiver();
  const password = 'dora-password-1';

  beforeAll(async () => {
    await receiver.up();
  });
  afterAll(async () => {
    await receiver.down();
  });

  it('a node without a worker queues; the next start delivers', async () => {
    const first = await startFerry({ ...FAST_RETRIES, FERRY_EVENTS__WORKER: 'false' });
    let second: Awaited<ReturnType<typeof startFerry>> | undefined;
    try {
      await first.server.accounts.users.create({ username: 'dora', password }, SYSTEM);
      await first.server.events.rules.create(
        { name: 'later', on: ['upload'], actions: [{ type: 'webhook', url: receiver.url }] },
        SYSTEM,
      );
      await upload(first.url, 'dora', password, '/a.txt', 'queued before the restart');
      // Stopped at once: the delivery row is written by the stop if the batch was not yet.
      await first.server.stop(1000);
      expect(receiver.received).toHaveLength(0);
      second = await startFerry({ ...FAST_RETRIES }, first.data);
      await eventually(() => receiver.received.length === 1, 'delivered after the restart');
      expect(JSON.parse(receiver.received[0]?.body ?? '{}').event).toMatchObject({
        kind: 'upload',
        username: 'dora',
        path: '/a.txt',
      });
      // The receiver has the POST before the node records `done` (after the answer).
      await eventually(
        async () => (await second?.server.events.deliveries.list({ rule: 'later' }))?.[0]?.status === 'done',
        'recorded done',
      );
      const [d] = await second.server.events.deliveries.list({ rule: 'later' });
      expect(d).toMatchObject({ status: 'done', attempts: 1 });
      expect(d?.node).toBe(second.server.events.node);
      expect(d?.event.node).not.toBe(second.server.events.node);
    } finally {
      await first.server.stop(1000);
      await second?.server.stop(1000);
    }
  });

  it('a receiver down when the server stops gets the events from the next start, each once', async () => {
    receiver.received.length = 0;
    await receiver.down();
    const first = await startFerry({ ...FAST_RETRIES });
    let second: Awaited<ReturnType<typeof startFerry>> | undefined;
    try {
      await first.server.accounts.users.create({ username: 'dora', password }, SYSTEM);
      await first.server.events.rules.create(
        { name: 'down', on: ['upload'], actions: [{ type: 'webhook', url: receiver.url }] },
        SYSTEM,
      );
      for (let i = 0; i < 5; i++) await upload(first.url, 'dora', password, `/b${i}.txt`, `b${i}`);
      await eventually(
        async () =>
          (await first.server.events.deliveries.list({ rule: 'down' })).every((d) => d.attempts >= 2),
        'attempts failed',
      );
      await first.server.stop(1000);
      await receiver.up();
      second = await startFerry({ ...FAST_RETRIES }, first.data);
      await eventually(() => receiver.counts().size === 5, 'five deliveries');
      await eventually(
        async () =>
          (await second?.server.events.deliveries.list({ rule: 'down' }))?.every(
            (d) => d.status === 'done',
          ) ?? false,
        'all done',
      );
      expect([...receiver.counts().values()]).toEqual([1, 1, 1, 1, 1]);
    } finally {
      await first.server.stop(1000);
      await second?.server.stop(1000);
    }
  });
});
