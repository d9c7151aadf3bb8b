import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../../src/db/database.js';
import { freshPostgresUrl } from '../support/postgres.js';
import { startSilentRelay, viaPort } from '../support/silent-relay.js';

/**
 * A PostgreSQL store that goes silent (packets dropped, not refused: no error, no reset) must
 * not hold Ferry for the ~15 minutes TCP takes to give up: connecting, each query and closing
 * are bounded, and a connection whose query timed out is dropped, never handed out again.
 * The store sits behind a loopback relay that, when cut, keeps the connections and passes nothing.
 */
const BOUNDS = { connectTimeoutMs: 1000, queryTimeoutMs: 1500 };

/** `p`'s outcome, or 'still waiting' after `ms`: the test's own wait is bounded. */
async function within<T>(
  p: Promise<T>,
  ms: number,
): Promise<{ value?: T; error?: Error; ms: number } | 'still waiting'> {
  const t0 = Date.now();
  return Promise.race([
    p.then(
      (value) => ({ value, ms: Date.now() - t0 }),
      (error: Error) => ({ error, ms: Date.now() - t0 }),
    ),
    new Promise<'still waiting'>((r) => setTimeout(() => r('still waiting'), ms).unref()),
  ]);
}

describe('a silent PostgreSQL store', () => {
  let url: string;
  const closers: (() => Promise<unknown>)[] = [];
  beforeAll(async () => {
    url = await freshPostgresUrl();
    // Migrated once, directly: the stores below open an up-to-date schema.
    await (await openStore(url)).close();
  });
  afterAll(async () => {
    for (const c of closers.reverse()) await c().catch(() => {});
  });

  async function relayed() {
    const pgUrl = new URL(url);
    const relay = await startSilentRelay({ host: pgUrl.hostname, port: Number(pgUrl.port) });
    closers.push(() => relay.close());
    return relay;
  }

  it('a query fails within its bound, and its connection is not used again', async () => {
    const relay = await relayed();
    const store = await openStore(viaPort(url, relay.port), BOUNDS);
    closers.push(() => store.close());
    await sql`select 1`.execute(store.db);
    relay.cut();
    const r = await within(sql`select 2`.execute(store.db), 8000);
    expect(r).not.toBe('still waiting');
    if (r === 'still waiting') return;
    expect(r.error?.message).toMatch(/PostgreSQL at postgres:\/\/.* did not answer within 1\.5 s/);
    expect(r.ms).toBeLessThan(4000);
    // The network comes back; the query that timed out never gets its answer (dropped). Were its
    // connection back in the pool, the next query would wait behind it for ever.
    relay.resume();
    const next = await within(sql<{ n: number }>`select 3 as n`.execute(store.db), 8000);
    expect(next).not.toBe('still waiting');
    if (next === 'still waiting') return;
    expect(next.error).toBeUndefined();
    expect(next.value?.rows[0]?.n).toBe(3);
  });

  it('opening fails within the connect bound, naming the store without its password', async () => {
    const relay = await relayed();
    relay.cut();
    const withPassword = new URL(viaPort(url, relay.port));
    withPassword.password = 'hunter2-secret';
    const r = await within(openStore(withPassword.toString(), BOUNDS), 8000);
    expect(r).not.toBe('still waiting');
    if (r === 'still waiting') return;
    expect(r.error?.message).toMatch(/cannot reach PostgreSQL at postgres(ql)?:\/\/.*:\*\*\*@127\.0\.0\.1/);
    expect(r.error?.message).not.toContain('hunter2');
    expect(r.ms).toBeLessThan(5000);
  });

  it('close() returns within a bound when the store is silent', async () => {
    const relay = await relayed();
    const store = await openStore(viaPort(url, relay.port), BOUNDS);
    await sql`select 1`.execute(store.db);
    relay.cut();
    const r = await within(store.close(), 8000);
    expect(r).not.toBe('still waiting');
    if (r === 'still waiting') return;
    expect(r.ms).toBeLessThan(4000);
  });

  it('the migration waits for the lock longer than the query bound (another node migrating)', async () => {
    const holder = new pg.Client({ connectionString: url });
    await holder.connect();
    closers.push(() => holder.end());
    await holder.query('select pg_advisory_lock($1)', [0x4665727279]);
    const released = setTimeout(
      () => void holder.query('select pg_advisory_unlock($1)', [0x4665727279]),
      3000,
    );
    const t0 = Date.now();
    const opening = within(openStore(url, BOUNDS), 20_000);
    const r = await opening;
    clearTimeout(released);
    expect(r).not.toBe('still waiting');
    if (r === 'still waiting') return;
    expect(r.error).toBeUndefined();
    expect(Date.now() - t0).toBeGreaterThanOrEqual(2900);
    await (r.value as Store).close();
  });
});
