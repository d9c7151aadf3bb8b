/**
 * `ls -l` of a 10,000-object folder through Session.list, as an SFTP READDIR sees it: with the
 * store's mtime index (client mtimes joined, one store query per page of 1,000), without it
 * (LastModified only), and without it but with a HEAD per entry (what showing client mtimes costs
 * otherwise). Same RGW, same run, interleaved rounds; median wall time and S3 requests per kind.
 * Seeds the objects once (with an mtime, through Ferry, so the index knows them); the index lives
 * in a SQLite file in a temp folder, or PostgreSQL with BENCH_POSTGRES_URL (an empty database).
 * Run: source /tmp/ferry-rgw-dev/rgw.env; npx tsx bench/list-mtime-index.ts [count=10000] [rounds=3]
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { permissionNames } from '../src/accounts/model.js';
import { openStore } from '../src/db/database.js';
import { StoreMtimeIndex } from '../src/db/mtime-index.js';
import { createS3Client } from '../src/s3/client.js';
import { connectionFromUrl } from '../src/s3/connection.js';
import { EventBus } from '../src/session/events.js';
import { QuotaLedger } from '../src/session/quota-ledger.js';
import { Tree } from '../src/session/resolve.js';
import { UserSession } from '../src/session/session.js';
import { defaultSessionLimits } from '../src/session/session-transfers.js';
import { StoragePool } from '../src/session/storage-pool.js';
import { Throttles } from '../src/session/throttle.js';
import { pages } from '../src/storage/s3/listing.js';
import { S3Storage } from '../src/storage/s3/s3-storage.js';
import { forEachConcurrent } from '../src/util/concurrency.js';

const count = Number(process.argv[2] ?? 10_000);
const rounds = Number(process.argv[3] ?? 3);
const bucket = 'bench-list-mtime';
const prefix = `mtime${count}`;
const endpoint = process.env.S3_ENDPOINT ?? 'http://127.0.0.1:17480';
const conn = connectionFromUrl(`s3://${bucket}`, { endpoint });
const dir = mkdtempSync(join(tmpdir(), 'ferry-bench-mtime-'));
const store = await openStore(process.env.BENCH_POSTGRES_URL ?? join(dir, 'ferry.db'));
const index = new StoreMtimeIndex(store);
const mtime = new Date('2020-01-01T00:00:00Z');

// Seed: write through Ferry with an mtime (recorded in this run's fresh index).
const seedClient = createS3Client(conn);
await seedClient.send(new CreateBucketCommand({ Bucket: bucket })).catch(() => {});
const seeder = new S3Storage(seedClient, conn, { mtimeIndex: index });
const t0 = performance.now();
const present: { key: string; etag: string }[] = [];
for await (const page of pages(seeder.listPage, `${prefix}/`)) {
  for (const o of page.Contents ?? []) present.push({ key: o.Key!, etag: o.ETag! });
}
if (present.length >= count) {
  // Written by an earlier run through Ferry (X-Amz-Meta-Mtime set): this run's fresh index learns
  // them as those writes taught the earlier one (key, ETag, mtime).
  for (const o of present) await index.record(seeder.mtimeScope, o.key, o.etag, mtime);
  console.log(
    `indexed ${present.length} objects already there in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
} else {
  await forEachConcurrent(
    Array.from({ length: count }, (_, i) => i),
    32,
    async (i) =>
      void (await seeder.write(`${prefix}/obj-${String(i).padStart(6, '0')}`, 'x'.repeat(16), { mtime })),
  );
  console.log(`seeded ${count} objects with an mtime in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  present.splice(0);
  for await (const page of pages(seeder.listPage, `${prefix}/`))
    for (const o of page.Contents ?? []) present.push({ key: o.Key!, etag: o.ETag! });
}
{
  const t = performance.now();
  for (let i = 0; i < present.length; i += 1000)
    await index.lookup(seeder.mtimeScope, present.slice(i, i + 1000));
  console.log(
    `index lookups alone: ${Math.ceil(present.length / 1000)} queries in ${(performance.now() - t).toFixed(0)} ms`,
  );
}

const requests = new Map<string, number>();
function sessionOn(withIndex: boolean): UserSession {
  const pool = new StoragePool({
    resolveConnection: async () => ({ ...conn, showPartialUploads: false }),
    s3ClientOptions: {
      observer: (r) => void requests.set(r.operation, (requests.get(r.operation) ?? 0) + 1),
    },
    mtimeIndex: withIndex ? index : undefined,
  });
  const user = {
    username: 'bench',
    enabled: true,
    permissions: { '/': [...permissionNames] },
    mounts: [],
    quota: {},
    bandwidth: {},
    allowedIps: [],
    deniedIps: [],
    setstatMode: 'ignore' as const,
    home: { type: 's3' as const, connection: 'bench', prefix: '' },
  };
  return new UserSession({
    id: `bench-${withIndex}`,
    user,
    protocol: 'bench',
    remote: '127.0.0.1',
    tree: new Tree(user),
    pool,
    ledger: new QuotaLedger(store),
    buckets: new Throttles().acquire('bench', {}),
    bus: new EventBus(),
    limits: defaultSessionLimits,
    accepting: () => true,
    onClose: () => {},
  });
}

const cases: Record<string, () => Promise<number>> = {};
const withIndex = sessionOn(true);
const without = sessionOn(false);
cases['with the mtime index'] = async () => {
  let n = 0;
  for await (const e of withIndex.list(`/${prefix}`))
    if (e.clientMtime && e.mtime.getTime() === mtime.getTime()) n++;
  return n;
};
cases['no index (LastModified)'] = async () => {
  let n = 0;
  for await (const e of without.list(`/${prefix}`)) if (e.mtime.getTime() === mtime.getTime()) n++;
  return n;
};
cases['no index + HEAD per entry'] = async () => {
  const names: string[] = [];
  for await (const e of without.list(`/${prefix}`)) names.push(e.name);
  let n = 0;
  await forEachConcurrent(names, 16, async (name) => {
    if ((await without.stat(`/${prefix}/${name}`)).mtime.getTime() === mtime.getTime()) n++;
  });
  return n;
};

const times = new Map<string, number[]>();
const reqs = new Map<string, string>();
for (let r = 0; r < rounds; r++) {
  // Rotating order, so a busy machine slows every figure alike; the HEAD-per-entry case (minutes)
  // runs in the first round only.
  const names = Object.keys(cases).filter((n) => r === 0 || !n.includes('HEAD'));
  const order = names.map((_, i) => names[(i + r) % names.length]!);
  for (const [name, fn] of order.map((n) => [n, cases[n]!] as const)) {
    requests.clear();
    const t = performance.now();
    const shown = await fn();
    const ms = performance.now() - t;
    times.set(name, [...(times.get(name) ?? []), ms]);
    reqs.set(
      name,
      `${[...requests].map(([k, v]) => `${k}=${v}`).join(' ')}; client mtimes shown: ${shown}/${count}`,
    );
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(`Session.list of ${count} objects, ${rounds} rounds, store ${store.dialect}`);
for (const [name, xs] of times)
  console.log(`${name.padEnd(28)} median ${(median(xs) / 1000).toFixed(2)} s   ${reqs.get(name)}`);
await store.close();
process.exit(0);
