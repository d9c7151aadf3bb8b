/**
 * What a login costs in the account services, on SQLite (a temp file) or on PostgreSQL
 * (BENCH_POSTGRES_URL, an empty database): the median of verifyPassword for a known user with a
 * wrong password, for an unknown name (both one scrypt hash: the two figures should match, no
 * user enumeration by timing), for the right password, and of `effective` (user + 2 groups +
 * mounts), side by side.
 * Run: npx tsx bench/accounts-login.ts [rounds=20]
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openAccounts } from '../src/accounts/accounts.js';
import type { Actor } from '../src/accounts/types.js';
import { openStore } from '../src/db/database.js';

const rounds = Number(process.argv[2] ?? 20);
const location =
  process.env.BENCH_POSTGRES_URL ?? join(mkdtempSync(join(tmpdir(), 'ferry-bench-')), 'ferry.db');
const store = await openStore(location);
const accounts = await openAccounts(store, {
  secretKey: randomBytes(32),
  defaultHome: { type: 'local', path: '/srv/ferry' },
});
const actor: Actor = { kind: 'system', name: 'system', role: 'admin' };
const user = `u${randomBytes(3).toString('hex')}`;
for (const g of ['g1', 'g2'])
  await accounts.groups.create({ name: `${user}-${g}`, quota: { bytes: 1 } }, actor);
await accounts.users.create(
  { username: user, password: 'the right password', groups: [`${user}-g1`, `${user}-g2`] },
  actor,
);
await accounts.mounts.create(
  { owner: { user }, path: '/m', target: { type: 'local', path: '/srv/m' } },
  actor,
);

// Interleaved (one of each per round, the order rotating), so a busy machine slows every figure alike.
const cases: Record<string, () => Promise<unknown>> = {
  'wrong password': () => accounts.users.verifyPassword(user, 'a wrong password'),
  'unknown user': () => accounts.users.verifyPassword('nobody-here', 'a wrong password'),
  'right password': () => accounts.users.verifyPassword(user, 'the right password'),
  effective: () => accounts.users.effective(user),
};
const times: Record<string, number[]> = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
for (let i = 0; i <= rounds; i++) {
  const entries = Object.entries(cases);
  for (const [k, f] of [...entries.slice(i % entries.length), ...entries.slice(0, i % entries.length)]) {
    const t = performance.now();
    await f();
    if (i > 0) times[k]!.push(performance.now() - t); // round 0 warms up
  }
}
const figures = Object.fromEntries(
  Object.entries(times).map(([k, v]) => [k, v.sort((a, b) => a - b)[Math.floor(v.length / 2)]!]),
);
console.log(`${store.dialect} (${rounds} rounds, median ms)`);
for (const [k, v] of Object.entries(figures)) console.log(`  ${k.padEnd(16)} ${v.toFixed(2)}`);
await accounts.close();
await store.close();
