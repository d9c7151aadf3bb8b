import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
 * Review of job leases when a node's store connection goes silent instead of dropping (a network
 * partition, a firewall that drops packets: no reset, queries neither answer nor fail). Node A
 * reaches PostgreSQL through a TCP relay on loopback that, when cut, keeps every connection open
 * and passes nothing either way. A's heartbeats then hang rather than fail; its run must still
 * stop its own sync before node B (direct connection) fails the run and may start the job again.
 */
const LEASE_S = 3;

/** A TCP relay to `target`; `cut()` keeps the connections and passes nothing, `heal()` resumes. */
async function startRelay(target: { host: string; port: number }) {
  let cut = false;
  const held: { from: net.Socket; to: net.Socket; chunk: Buffer }[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(target.port, target.host);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => sockets.delete(s));
    }
    const relay = (from: net.Socket, to: net.Socket) =>
      from.on('data', (chunk: Buffer) => {
        if (cut) held.push({ from, to, chunk });
        else to.write(chunk);
      });
    relay(client, upstream);
    relay(upstream, client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    cut: () => {
      cut = true;
    },
    heal: () => {
      cut = false;
      for (const h of held.splice(0)) if (!h.to.destroyed) h.to.write(h.chunk);
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

describe('sync jobs: a node whose store goes silent (postgres)', () => {
  let url: string;
  let storeB: Store;
  let accounts: Accounts;
  const closers: (() => Promise<void>)[] = [];
  let dir: string;

  beforeAll(async () => {
    url = await freshPostgresUrl();
    storeB = await openStore(url);
    accounts = await openAccounts(storeB, { secretKey: randomBytes(32), defaultHome, changePollMs: 100 });
    dir = mkdtempSync(join(tmpdir(), 'ferry-blackhole-'));
    mkdirSync(join(dir, 'src'));
    writeFileSync(join(dir, 'src', 'a.txt'), 'a');
    mkdirSync(join(dir, 'dst'));
  });
  afterAll(async () => {
    for (const c of closers.reverse()) await c().catch(() => {});
    await accounts?.close();
    await storeB?.close();
  });

  function node(name: string, store: Store, runSync: RunSync): Jobs {
    const pool = new StoragePool({
      resolveConnection: (n) => accounts.connections.resolve(n),
      changes: accounts.changes,
    });
    const jobs = openJobs({
      store,
      accounts,
      pool,
      schedule: false,
      leaseSeconds: LEASE_S,
      node: name,
      runSync,
    });
    closers.push(async () => {
      await jobs.close();
      pool.close();
    });
    return jobs;
  }

  it("stops its own sync before another node's reaper fails the run", { timeout: 120_000 }, async () => {
    const pgUrl = new URL(url);
    const relay = await startRelay({ host: pgUrl.hostname, port: Number(pgUrl.port) });
    const viaRelay = new URL(url);
    viaRelay.port = String(relay.port);
    const storeA = await openStore(viaRelay.toString(), { connectTimeoutMs: 1000, queryTimeoutMs: 1500 });
    // Healed before anything is closed: a pool cannot end while its queries hang.
    closers.push(async () => {
      relay.heal();
      await storeA.close();
      await relay.close();
    });
    const seen: { abortedAt?: number; reason?: string } = {};
    const runSync: RunSync = async (_src, _dst, options) => {
      const signal = options.signal as AbortSignal;
      await new Promise<void>((resolve) =>
        signal.addEventListener('abort', () => {
          seen.abortedAt = Date.now();
          seen.reason = (signal.reason as Error)?.message;
          resolve();
        }),
      );
      throw signal.reason;
    };
    const a = node('node-a', storeA, runSync);
    const b = node('node-b', storeB, runSync);
    await a.store.create(
      { name: 'silent', source: join(dir, 'src'), destination: join(dir, 'dst'), options: { dryRun: true } },
      system,
    );
    const { run, done } = await a.trigger('silent', system);
    await new Promise((r) => setTimeout(r, (LEASE_S * 1000) / 2));
    relay.cut();
    const cutAt = Date.now();
    let reapedAt: number | undefined;
    while (reapedAt === undefined && Date.now() - cutAt < 60_000) {
      const reaped = await b.store.expireLeases(LEASE_S * 1000);
      if (reaped.some((r) => r.id === run.id)) reapedAt = Date.now();
      else await new Promise((r) => setTimeout(r, 100));
    }
    expect(reapedAt).toBeDefined();
    expect(seen.reason).toMatch(/heartbeat/);
    expect(seen.abortedAt as number).toBeLessThan(reapedAt as number);
    // The run's own record waits for the store, silent: each query is bounded (1.5 s here), so
    // the run ends, its record not written (before the bounds: until TCP gave up, ~15 min).
    const settled = await Promise.race([
      done.then(() => 'settled'),
      new Promise((r) => setTimeout(() => r('still waiting'), 10_000)),
    ]);
    console.log(
      `[blackhole] aborted ${(seen.abortedAt as number) - cutAt} ms after the cut, reaped ${(reapedAt as number) - cutAt} ms after; the run's end 10 s later: ${settled}`,
    );
    expect(settled).toBe('settled');
    expect((await done).error).toMatch(/not recorded in the store: .*PostgreSQL at .*within 1/);
    relay.heal();
    expect((await done).status).toBe('failed');
    expect((await b.store.getRun(run.id)).error).toMatch(/stopped renewing its lease/);
  });

  it('a stop waits a bounded time for the records of its runs', { timeout: 60_000 }, async () => {
    const pgUrl = new URL(url);
    const relay = await startRelay({ host: pgUrl.hostname, port: Number(pgUrl.port) });
    const viaRelay = new URL(url);
    viaRelay.port = String(relay.port);
    // No query bound at all: only the stop's own wait can end it.
    const storeA = await openStore(viaRelay.toString(), { queryTimeoutMs: 0 });
    const runSync: RunSync = async (_src, _dst, options) => {
      const signal = options.signal as AbortSignal;
      await new Promise((resolve) => signal.addEventListener('abort', resolve));
      throw signal.reason;
    };
    const a = node('node-a2', storeA, runSync);
    // After node(): closed first (closers run in reverse), so a failure here leaves no hang.
    closers.push(async () => {
      relay.heal();
      await storeA.close();
      await relay.close();
    });
    await a.store.create(
      {
        name: 'stopping',
        source: join(dir, 'src'),
        destination: join(dir, 'dst'),
        options: { dryRun: true },
      },
      system,
    );
    const { run } = await a.trigger('stopping', system);
    relay.cut();
    const t0 = Date.now();
    const closed = await Promise.race([
      a.close(2000),
      new Promise<'still waiting'>((r) => setTimeout(() => r('still waiting'), 15_000)),
    ]);
    expect(closed).toEqual([run.id]);
    expect(Date.now() - t0).toBeLessThan(5000);
    relay.heal(); // the record is written late; nothing else waits for it
  });
});
