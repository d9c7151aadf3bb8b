import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openAccounts } from '../../src/accounts/accounts.js';
import type { Accounts } from '../../src/accounts/types.js';
import { openStore, type Store } from '../../src/db/database.js';
import { type Jobs, openJobs } from '../../src/jobs/index.js';
import { StoragePool } from '../../src/session/storage-pool.js';
import type { RunSync } from '../../src/sync/types.js';
import { defaultHome, system } from '../accounts/support.js';
import { freshPostgresUrl } from '../support/postgres.js';

/**
 * Job leases on one PostgreSQL store shared by two nodes (docs/jobs.md "Leases"): the lease is
 * kept and judged on the database's clock, so a node whose own clock is off does not fail the
 * live runs of others; and a node cut off from the store stops its own sync (after 2/3 of the
 * lease without a heartbeat) before another node's reaper fails the run (after the whole lease),
 * so two runs of one job never sync at once.
 *
 * The sync of these runs is a stand-in that waits until its signal is aborted (or it is told to
 * end): the lease machinery, the store and the two nodes are real.
 */
describe('sync jobs: leases on the database clock (postgres)', () => {
  const LEASE_S = 3;
  let url: string;
  let admin: pg.Client;
  let storeB: Store;
  let accounts: Accounts;
  const closers: (() => Promise<void>)[] = [];
  let dir: string;

  beforeAll(async () => {
    url = await freshPostgresUrl();
    admin = new pg.Client({ connectionString: url });
    await admin.connect();
    storeB = await openStore(url);
    accounts = await openAccounts(storeB, { secretKey: randomBytes(32), defaultHome, changePollMs: 100 });
    dir = mkdtempSync(join(tmpdir(), 'ferry-lease-'));
    mkdirSync(join(dir, 'src'));
    writeFileSync(join(dir, 'src', 'a.txt'), 'a');
    mkdirSync(join(dir, 'dst'));
  });
  afterAll(async () => {
    for (const c of closers.reverse()) await c().catch(() => {});
    await accounts?.close();
    await storeB?.close();
    await admin?.end();
  });

  /** A node: its own store connection (`storeUrl`), jobs without a scheduler, a clock offset. */
  async function node(
    name: string,
    store: Store,
    runSync: RunSync,
    clockOffsetMs = 0,
    leaseSeconds = LEASE_S,
  ): Promise<Jobs> {
    const pool = new StoragePool({
      resolveConnection: (n) => accounts.connections.resolve(n),
      changes: accounts.changes,
    });
    const jobs = openJobs({
      store,
      accounts,
      pool,
      schedule: false,
      leaseSeconds,
      node: name,
      runSync,
      clock: () => Date.now() + clockOffsetMs,
    });
    closers.push(async () => {
      await jobs.close();
      pool.close();
    });
    return jobs;
  }

  /** A sync that ends when told to, or when its signal is aborted (then it records when). */
  function heldSync() {
    let release: () => void = () => {};
    const released = new Promise<void>((r) => {
      release = r;
    });
    const seen: { abortedAt?: number; reason?: string } = {};
    const runSync: RunSync = async (_src, _dst, options) => {
      const signal = options.signal as AbortSignal;
      await new Promise<void>((resolve) => {
        void released.then(resolve);
        signal.addEventListener('abort', () => {
          seen.abortedAt = Date.now();
          seen.reason = (signal.reason as Error)?.message;
          resolve();
        });
      });
      if (signal.aborted) throw signal.reason;
      return {
        plan: { actions: [], unchanged: 0, listed: { src: 0, dst: 0 } } as never,
        summary: { copied: 0, deleted: 0, failed: 0, skipped: 0, bytes: 0 } as never,
      };
    };
    return { runSync, release, seen };
  }

  it('a node whose clock is ahead by more than the lease does not fail the live run of another', async () => {
    const held = heldSync();
    const a = await node('node-a', storeB, held.runSync);
    // Node B's clock is an hour ahead.
    const b = await node('node-b', storeB, held.runSync, 3_600_000);
    await a.store.create(
      { name: 'skew', source: join(dir, 'src'), destination: join(dir, 'dst'), options: { dryRun: true } },
      system,
    );
    const { run, done } = await a.trigger('skew', system);
    // Several heartbeats of A; B looks for expired leases all the while.
    const until = Date.now() + LEASE_S * 1000 * 1.5;
    while (Date.now() < until) {
      expect(await b.store.expireLeases(LEASE_S * 1000)).toEqual([]);
      await new Promise((r) => setTimeout(r, 300));
    }
    expect((await b.store.getRun(run.id)).status).toBe('running');
    held.release();
    expect((await done).status).toBe('ok');
    expect(held.seen.abortedAt).toBeUndefined();
  });

  it("a node cut off from the store stops its own sync before another node's reaper fails the run", async () => {
    const role = `node_a_${randomBytes(3).toString('hex')}`;
    await admin.query(`create role ${role} login superuser password 'node-a-password'`);
    const asA = new URL(url);
    asA.username = role;
    asA.password = 'node-a-password';
    const storeA = await openStore(asA.toString());
    closers.push(() => storeA.close());
    const held = heldSync();
    const a = await node('node-a', storeA, held.runSync);
    const b = await node('node-b', storeB, held.runSync);
    await a.store.create(
      { name: 'cut', source: join(dir, 'src'), destination: join(dir, 'dst'), options: { dryRun: true } },
      system,
    );
    const { run, done } = await a.trigger('cut', system);
    // Let A beat once, then cut it off: its connections are ended and it may not log in again.
    await new Promise((r) => setTimeout(r, (LEASE_S * 1000) / 2));
    await admin.query(`alter role ${role} nologin`);
    await admin.query('select pg_terminate_backend(pid) from pg_stat_activity where usename = $1', [role]);
    const cutAt = Date.now();
    // B reaps as its scheduler does, until the run is failed.
    let reapedAt: number | undefined;
    while (reapedAt === undefined && Date.now() - cutAt < 60_000) {
      const reaped = await b.store.expireLeases(LEASE_S * 1000);
      if (reaped.some((r) => r.id === run.id)) reapedAt = Date.now();
      else await new Promise((r) => setTimeout(r, 100));
    }
    expect(reapedAt).toBeDefined();
    expect(held.seen.abortedAt).toBeDefined();
    expect(held.seen.abortedAt as number).toBeLessThan(reapedAt as number);
    expect(held.seen.reason).toMatch(/heartbeat/);
    const end = await done;
    expect(end.status).toBe('failed');
    const stored = await b.store.getRun(run.id);
    expect(stored.status).toBe('failed');
    expect(stored.error).toMatch(/stopped renewing its lease/);
  });
  it("a stalled event loop does not postpone a run's self-abort past two thirds of its lease", async () => {
    // Lease 6 s, a heartbeat every 2 s; the run must stop 4 s after its last renewal. Node A is
    // cut off from the store at once (no heartbeat renews), and its event loop stalls from 1 s to
    // 3.7 s: the first heartbeat tick (due at 2 s) runs late, at 3.7 s. A timer that only looks
    // at the clock on each tick looks next at 5.7 s — 0.3 s before another node may fail the run
    // and start the job again, and under more load past it. The run must stop at 4 s.
    const lease = 6;
    const role = `node_s_${randomBytes(3).toString('hex')}`;
    await admin.query(`create role ${role} login superuser password 'node-s-password'`);
    const asA = new URL(url);
    asA.username = role;
    asA.password = 'node-s-password';
    const storeA = await openStore(asA.toString());
    closers.push(() => storeA.close());
    const held = heldSync();
    const a = await node('node-a', storeA, held.runSync, 0, lease);
    const b = await node('node-b', storeB, held.runSync, 0, lease);
    await a.store.create(
      { name: 'stall', source: join(dir, 'src'), destination: join(dir, 'dst'), options: { dryRun: true } },
      system,
    );
    const { run, done } = await a.trigger('stall', system);
    const t0 = Date.now();
    await admin.query(`alter role ${role} nologin`);
    await admin.query('select pg_terminate_backend(pid) from pg_stat_activity where usename = $1', [role]);
    await new Promise((r) => setTimeout(r, Math.max(0, t0 + 1000 - Date.now())));
    while (Date.now() < t0 + 3700); // the stall: nothing of this process runs meanwhile
    let reapedAt: number | undefined;
    while (reapedAt === undefined && Date.now() - t0 < 60_000) {
      const reaped = await b.store.expireLeases(lease * 1000);
      if (reaped.some((r) => r.id === run.id)) reapedAt = Date.now();
      else await new Promise((r) => setTimeout(r, 100));
    }
    expect(held.seen.reason).toMatch(/heartbeat/);
    const stoppedAfter = (held.seen.abortedAt as number) - t0;
    // 4 s is the budget; 0.8 s of slack for a loaded machine's timers (a tick-paced check: 5.7 s).
    expect(stoppedAfter).toBeGreaterThanOrEqual(3700);
    expect(stoppedAfter).toBeLessThan(4800);
    expect(reapedAt as number).toBeGreaterThan(held.seen.abortedAt as number);
    expect((await done).status).toBe('failed');
  }, 90_000);
});
