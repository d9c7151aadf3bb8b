import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { openStore, type Store } from '../../src/db/database.js';
import type { DeliveredEvent } from '../../src/events/model.js';
import { DeliveryQueue } from '../../src/events/queue.js';
import { eventsDb } from '../../src/events/tables.js';
import { backends, freshLocation } from '../accounts/support.js';

const event = (i: number) =>
  ({
    id: `e${i}`,
    kind: 'upload',
    user: 'u',
    path: `/f${i}`,
    at: new Date().toISOString(),
  }) as unknown as DeliveredEvent;
const row = (i: number) => ({ rule: 'r', action: 0, actionType: 'webhook', event: event(i) });

/**
 * Review finding: the delivery queue judged leases by each node's own clock, so a node whose
 * clock ran more than a lease ahead took a live delivery from another node and sent it again.
 * Leases and due times now come from the database's clock.
 */
describe.each(backends)('delivery leases on the database clock (%s)', (backend) => {
  let store: Store;
  afterEach(() => {
    vi.useRealTimers();
  });
  afterAll(async () => {
    await store?.close();
  });

  it('a node whose clock runs 10 minutes ahead neither takes a live lease nor delays new rows', async () => {
    store = await openStore(await freshLocation(backend));
    const a = new DeliveryQueue(eventsDb(store.db), store.dialect);
    const b = new DeliveryQueue(eventsDb(store.db), store.dialect);
    await a.add([row(1)]);
    const [held] = await a.claim('node-a', 10, 60_000);
    expect(held).toBeDefined();

    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 10 * 60_000);
    expect(await b.claim('node-b', 10, 60_000)).toEqual([]);
    // Its own renewals and completions still work for the node that holds it.
    vi.useRealTimers();
    expect(await a.renew(held!.id, 'node-a', 60_000)).toBe(true);
    expect(await a.done(held!.id, 'node-a')).toBe(true);

    // A node whose clock runs behind: a row it adds is due now, not in 10 minutes.
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() - 10 * 60_000);
    await b.add([row(2)]);
    vi.useRealTimers();
    const [fresh] = await a.claim('node-a', 10, 60_000);
    expect(fresh?.event.path).toBe('/f2');
  });
});
