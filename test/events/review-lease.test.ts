import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../../src/db/database.js';
import { commandActionSchema } from '../../src/events/model.js';
import { DeliveryQueue } from '../../src/events/queue.js';
import type { Rule } from '../../src/events/rules.js';
import { eventsDb } from '../../src/events/tables.js';
import { DeliveryWorker } from '../../src/events/worker.js';
import { eventually } from './support.js';

/**
 * A delivery that runs longer than the lease (a big copy has no timeout at all) must not be
 * claimed and run a second time by another worker while the first is still at it.
 */
describe('review: an action longer than the lease', () => {
  let store: Store;
  const workers: DeliveryWorker[] = [];
  afterAll(async () => {
    for (const w of workers) await w.stop();
    await store?.close();
  });

  it('runs once: the running worker keeps its lease', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-review-lease-'));
    store = await openStore(join(dir, 'ferry.db'));
    const queue = new DeliveryQueue(eventsDb(store.db), store.dialect);
    const runs = join(dir, 'runs');
    const rule: Rule = {
      name: 'slow',
      enabled: true,
      on: ['upload'],
      filters: { users: [], groups: [], paths: [], result: 'ok' },
      actions: [
        commandActionSchema.parse({
          type: 'command',
          argv: ['/bin/sh', '-c', `echo "$FERRY_DELIVERY_ID" >> ${runs}; sleep 3`],
        }),
      ],
    };
    const errors: unknown[] = [];
    for (const node of ['node-a', 'node-b']) {
      const w = new DeliveryWorker({
        queue,
        findRule: async (name) => (name === rule.name ? rule : undefined),
        node,
        policy: { baseMs: 50, maxMs: 100, maxAttempts: 5 },
        pollMs: 50,
        leaseMs: 600,
        concurrency: 1,
        copy: {
          effective: () => Promise.reject(new Error('no copy here')),
          storage: () => Promise.reject(new Error('no copy here')),
        },
        email: () => Promise.reject(new Error('no email here')),
        keepDoneMs: 3_600_000,
        onError: (err) => errors.push(err),
      });
      workers.push(w);
      w.start();
    }
    await queue.add([
      {
        rule: 'slow',
        action: 0,
        actionType: 'command',
        event: {
          kind: 'upload',
          username: 'u',
          protocol: 'http',
          remote: '127.0.0.1',
          path: '/f',
          durationMs: 1,
          result: 'ok',
          at: new Date().toISOString(),
          node: 'test',
        },
      },
    ]);
    let status = '';
    await eventually(async () => {
      const [d] = await queue.list();
      status = d?.status ?? '';
      return status === 'done' || status === 'dead';
    }, 'the delivery finished');
    // Let a second run, if one started, write its line.
    await new Promise((r) => setTimeout(r, 500));
    const lines = readFileSync(runs, 'utf8').trim().split('\n');
    expect(status).toBe('done');
    expect(lines).toHaveLength(1);
    expect(errors).toEqual([]);
  });
});
