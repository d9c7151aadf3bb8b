import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openAccounts } from '../../src/accounts/accounts.js';
import type { Accounts } from '../../src/accounts/types.js';
import { openStore, type Store } from '../../src/db/database.js';
import { migrationsFor } from '../../src/db/migrations.js';
import { freshPostgresUrl } from '../support/postgres.js';
import { admin, defaultHome, freshLocation, system } from './support.js';

const run = promisify(execFile);
const dist = resolve(import.meta.dirname, '../../dist');

/** Resolves with the first topic `accounts` reports matching `topic` (or rejects after `ms`). */
function nextChange(accounts: Accounts, topic: string, ms = 1000): Promise<number> {
  const started = Date.now();
  return new Promise((done, fail) => {
    const timer = setTimeout(() => {
      stop();
      fail(new Error(`no "${topic}" change within ${ms} ms`));
    }, ms);
    const stop = accounts.changes.subscribe((t) => {
      if (t !== topic) return;
      clearTimeout(timer);
      stop();
      done(Date.now() - started);
    });
  });
}

describe('several nodes on one PostgreSQL database', () => {
  const key = randomBytes(32);
  let url: string;
  let stores: Store[] = [];
  let a: Accounts;
  let b: Accounts;
  beforeAll(async () => {
    url = await freshPostgresUrl();
    stores = [await openStore(url), await openStore(url)];
    a = await openAccounts(stores[0]!, { secretKey: key, defaultHome });
    b = await openAccounts(stores[1]!, { secretKey: key, defaultHome });
    await a.connections.create({ name: 'main', settings: { bucket: 'homes-bucket' } }, system);
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    for (const s of stores) await s.close();
  });

  it('a user change on A is announced to B within a second, and B reads it', async () => {
    const seen = nextChange(b, 'users');
    await a.users.create({ username: 'alice', quota: { bytes: 10 } }, admin);
    await seen;
    expect((await b.users.effective('alice')).quota).toEqual({ bytes: 10 });
    const again = nextChange(b, 'users');
    await a.users.update('alice', { quota: { bytes: 20 } }, admin);
    await again;
    expect((await b.users.effective('alice')).quota).toEqual({ bytes: 20 });
  });

  it('a ban made on A holds on B, announced on the defender topic', async () => {
    const seen = nextChange(b, 'defender');
    for (let i = 0; i < 5; i++) await a.defender.failed('203.0.113.9', 'alice');
    await seen;
    expect(await b.defender.bannedUntil('198.51.100.1', 'alice')).toBeDefined();
    expect(await b.defender.bannedUntil('203.0.113.9')).toBeDefined();
  });

  it('failures counted on two nodes at once add up (atomic upsert)', async () => {
    await Promise.all([
      a.defender.failed('192.0.2.50'),
      b.defender.failed('192.0.2.50'),
      a.defender.failed('192.0.2.50'),
      b.defender.failed('192.0.2.50'),
    ]);
    const row = (await b.defender.list()).find((e) => e.key === 'ip:192.0.2.50');
    expect(row?.failures).toBe(4);
  });

  it('a change made on this node fires at once, once', async () => {
    const topics: string[] = [];
    const stop = a.changes.subscribe((t) => topics.push(t));
    await a.changes.bump('groups');
    expect(topics).toEqual(['groups']);
    await new Promise((r) => setTimeout(r, 300)); // the NOTIFY echo comes back: not a second time
    expect(topics).toEqual(['groups']);
    stop();
  });

  it('the LISTEN connection comes back after the server drops it, and catches up', async () => {
    const killed = await sql`select pg_terminate_backend(pid) from pg_stat_activity
              where datname = current_database() and query ilike 'LISTEN%'`.execute(stores[0]!.db);
    expect(killed.rows).toHaveLength(2); // A's and B's listeners
    const seen = nextChange(b, 'mounts', 5000);
    await a.mounts.create(
      { owner: { user: 'alice' }, path: '/x', target: { type: 'local', path: '/srv/x' } },
      admin,
    );
    await seen;
  });

  it('five stores opened at once on a fresh database all succeed, migrated once', async () => {
    const fresh = await freshPostgresUrl();
    const opened = await Promise.all([1, 2, 3, 4, 5].map(() => openStore(fresh)));
    try {
      const accounts = await Promise.all(opened.map((s) => openAccounts(s, { secretKey: key, defaultHome })));
      const migrations = await sql<{ name: string }>`select name from kysely_migration`.execute(
        opened[0]!.db,
      );
      // Each migration exactly once, in order (the list grows: read it, don't copy it).
      const all = Object.keys(await migrationsFor('postgres').getMigrations()).sort();
      expect(migrations.rows.map((r) => r.name).sort()).toEqual(all);
      expect(all[0]).toBe('0001-accounts');
      for (const acc of accounts) await acc.close();
    } finally {
      for (const s of opened) await s.close();
    }
  });
});

describe('a second process on the same SQLite file (the admin CLI beside a server)', () => {
  it('sees its change through the polled change feed within a second', async () => {
    const file = await freshLocation('sqlite');
    const key = randomBytes(32);
    const store = await openStore(file);
    const server = await openAccounts(store, { secretKey: key, defaultHome, changePollMs: 200 });
    try {
      const topics: string[] = [];
      const stop = server.changes.subscribe((t) => topics.push(t));
      const script = `
        const { openStore } = await import(${JSON.stringify(`${dist}/db/database.js`)});
        const { openAccounts } = await import(${JSON.stringify(`${dist}/accounts/accounts.js`)});
        const store = await openStore(process.argv[1]);
        const acc = await openAccounts(store, { secretKey: Buffer.from(process.argv[2], 'hex'), defaultHome: { type: 'local', path: '/srv' } });
        await acc.users.create({ username: 'from-cli' }, { kind: 'cli', name: 'cli', role: 'admin' });
        await acc.close(); await store.close();`;
      await run(process.execPath, ['--input-type=module', '-e', script, file, key.toString('hex')]);
      // Starting a node process takes seconds on a busy machine: the second counts from its exit.
      const exited = Date.now();
      while (!topics.includes('users') && Date.now() - exited < 1000)
        await new Promise((r) => setTimeout(r, 20));
      stop();
      expect(topics).toContain('users');
      expect((await server.users.get('from-cli')).username).toBe('from-cli');
      expect((await server.audit.list({ actor: 'cli' }))[0]?.path).toBe('users/from-cli');
    } finally {
      await server.close();
      await store.close();
    }
  });
});
