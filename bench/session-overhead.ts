/**
 * What the session layer adds to a small write and a stat: the same N files written and stat'ed
 * straight through a Storage and through a Session on that storage (path resolution, permission
 * check, a stat of the target, the quota reservation in the store, the event). Local storage in a
 * temp folder, the ledger on SQLite (a temp file) or PostgreSQL (BENCH_POSTGRES_URL, an empty
 * database). Prints the median and p90 per operation.
 * Run: npx tsx bench/session-overhead.ts [files=300]
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { permissionNames } from '../src/accounts/model.js';
import type { EffectiveUser } from '../src/accounts/types.js';
import { openStore } from '../src/db/database.js';
import { EventBus } from '../src/session/events.js';
import { QuotaLedger } from '../src/session/quota-ledger.js';
import { Tree } from '../src/session/resolve.js';
import { UserSession } from '../src/session/session.js';
import { defaultSessionLimits } from '../src/session/session-transfers.js';
import { StoragePool } from '../src/session/storage-pool.js';
import { Throttles } from '../src/session/throttle.js';

const files = Number(process.argv[2] ?? 300);
const dir = mkdtempSync(join(tmpdir(), 'ferry-bench-session-'));
const store = await openStore(process.env.BENCH_POSTGRES_URL ?? join(dir, 'ferry.db'));
const pool = new StoragePool({
  resolveConnection: async () => {
    throw new Error('no S3 in this benchmark');
  },
});

function user(name: string, quota: EffectiveUser['quota']): EffectiveUser {
  return {
    username: name,
    enabled: true,
    home: { type: 'local', path: join(dir, name) },
    permissions: { '/': [...permissionNames] },
    mounts: [],
    quota,
    bandwidth: {},
    allowedIps: [],
    deniedIps: [],
    setstatMode: 'ignore',
  };
}

function session(u: EffectiveUser) {
  return new UserSession({
    id: randomUUID(),
    user: u,
    protocol: 'bench',
    remote: '127.0.0.1',
    tree: new Tree(u),
    pool,
    ledger: new QuotaLedger(store),
    buckets: new Throttles().acquire(u.username, u.bandwidth),
    bus: new EventBus(),
    limits: defaultSessionLimits,
    accepting: () => true,
    onClose: () => {},
  });
}

async function timed(label: string, fn: (i: number) => Promise<unknown>): Promise<void> {
  const ms: number[] = [];
  for (let i = 0; i < files; i++) {
    const t = performance.now();
    await fn(i);
    ms.push(performance.now() - t);
  }
  ms.sort((a, b) => a - b);
  const at = (q: number) => ms[Math.min(ms.length - 1, Math.floor(q * ms.length))]!.toFixed(3);
  console.log(`${label.padEnd(44)} median ${at(0.5)} ms   p90 ${at(0.9)} ms`);
}

const body = Buffer.alloc(1024, 1);
const direct = await pool.get({ type: 'local', path: join(dir, 'direct') });
console.log(`${files} files of 1 KiB, local storage, ledger on ${store.dialect}`);
await timed('storage.write (no session)', (i) => direct.write(`d/f${i}`, body));
await timed('session.write, no quota', (i) => session(user('free', {})).write(`/d/f${i}`, body));
const quoted = session(user('quoted', { bytes: 1e12, files: 1e9 }));
await timed('session.write, quota', (i) => quoted.write(`/d/f${i}`, body));
await timed('session.write over an existing file, quota', (i) => quoted.write(`/d/f${i}`, body));
await timed('storage.stat (no session)', (i) => direct.stat(`d/f${i}`));
await timed('session.stat', (i) => quoted.stat(`/d/f${i}`));
await store.close();
