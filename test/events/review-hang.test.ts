import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/server/serve.js';
import { eventually, FAST_RETRIES, Receiver, SYSTEM, startFerry, upload } from './support.js';

/**
 * Review (session 14): one receiver that never answers must not hold up another rule's
 * deliveries. Before, the worker claimed up to `concurrency` (16) rows and waited for all of them,
 * so a healthy receiver's events waited out the hanging one's webhook timeout (here 120 s); with
 * more hanging rows than the concurrency, every slot was a hanging request.
 */
describe('event rules: a hanging receiver and a healthy one', () => {
  let ferry: Awaited<ReturnType<typeof startFerry>>;
  let server: RunningServer;
  const hung = new Receiver();
  const healthy = new Receiver();
  const password = 'hana-password-1';
  const UPLOADS = 24;

  beforeAll(async () => {
    await hung.up();
    await healthy.up();
    hung.hang = true;
    // The default concurrency (16) and a webhook timeout of 120 s on the hanging receiver.
    ferry = await startFerry(FAST_RETRIES);
    server = ferry.server;
    await server.accounts.users.create({ username: 'hana', password }, SYSTEM);
  });
  afterAll(async () => {
    await server?.stop(1000);
    await hung.down();
    await healthy.down();
  });

  it('the healthy receiver gets every event while the other hangs', { timeout: 120_000 }, async () => {
    await server.events.rules.create(
      { name: 'hangs', on: ['upload'], actions: [{ type: 'webhook', url: hung.url, timeoutSeconds: 120 }] },
      SYSTEM,
    );
    await server.events.rules.create(
      { name: 'answers', on: ['upload'], actions: [{ type: 'webhook', url: healthy.url }] },
      SYSTEM,
    );
    // The hanging rule's first deliveries are under way before the rest is uploaded.
    await upload(ferry.url, 'hana', password, '/h00.txt', 'first');
    await eventually(() => hung.received.length >= 1, 'the hanging receiver has a request');
    for (let i = 1; i < UPLOADS; i++)
      await upload(ferry.url, 'hana', password, `/h${String(i).padStart(2, '0')}.txt`, `file ${i}`);
    // 30 s is a quarter of the hanging receiver's timeout: loose on a loaded machine, yet short
    // of what waiting for a hanging request costs.
    await eventually(
      () => healthy.counts().size === UPLOADS,
      `${UPLOADS} events at the healthy receiver`,
      30_000,
    );
    expect([...healthy.counts().values()]).toEqual(Array(UPLOADS).fill(1));
    // The hanging receiver holds only part of the worker: at most half of its slots.
    expect(hung.received.length).toBeGreaterThan(0);
    expect(hung.received.length).toBeLessThanOrEqual(8);
  });
});
