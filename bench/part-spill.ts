/**
 * The part spill (src/storage/s3/part-spill.ts, src/s3/budget-asks.ts) when it happens: N idle S3
 * write handles each holding a part of 12 MiB filled (16 MiB parts, a 16·N MiB budget: full), then
 * one reservation of one part waits. Measured per build: how long the waiter waited, how many
 * parts went to disk (and so were read back at the handles' next write), the time of those writes
 * and reads, and the N files byte-checked after. Builds side by side in one run, rounds
 * interleaved, each in its own process (a fresh budget):
 *   source $RGW_BASE/rgw.env; unset AWS_CA_BUNDLE
 *   BENCH_BUILDS=/tmp/main-build npx tsx bench/part-spill.ts [handles=6] [rounds=3]
 * ("this" is the build in ./dist, made by `npx tsc -p tsconfig.build.json`).
 */
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const MiB = 1024 * 1024;
const [, , first, second, third] = process.argv;

/** One round in this process, on the build at `root`: prints a JSON line. */
async function measure(root: string, n: number): Promise<void> {
  const { createS3Client } = await import(`${root}/dist/s3/client.js`);
  const { parseConnection } = await import(`${root}/dist/s3/connection.js`);
  const { S3Storage } = await import(`${root}/dist/storage/s3/s3-storage.js`);
  const { BufferBudget } = await import(`${root}/dist/s3/buffer-budget.js`);
  const { partSpills } = await import(`${root}/dist/storage/s3/part-spill.js`);
  const conn = parseConnection({
    bucket: process.env.BENCH_BUCKET ?? 'ferry-test',
    prefix: `bench-spill-${randomBytes(4).toString('hex')}`,
    region: 'us-east-1',
    endpoint: process.env.S3_ENDPOINT ?? 'http://127.0.0.1:17480',
    accessKeyId: process.env.AWS_ACCESS_KEY_ID,
    secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY,
  });
  const s3 = new S3Storage(createS3Client(conn), conn);
  s3.upload = { ...s3.upload, partSize: 16 * MiB, threshold: 16 * MiB, concurrency: 2 };
  const budget = new BufferBudget(16 * MiB * n);
  s3.budget = budget;
  const bodies = Array.from({ length: n }, () => randomBytes(12 * MiB + 1));
  const handles = [];
  for (const [i, body] of bodies.entries()) {
    const h = await s3.openWrite(`f${i}.bin`);
    await h.write(0, body.subarray(0, 12 * MiB));
    handles.push(h);
  }
  // The budget's asking timer is unref'd (a server's sockets keep it alive): keep this one alive.
  const alive = setInterval(() => {}, 1000);
  const t0 = performance.now();
  const release = await budget.reserve(16 * MiB, AbortSignal.timeout(30_000));
  const waited = performance.now() - t0;
  await new Promise((r) => setTimeout(r, 600)); // spills still under way finish
  const spilled = partSpills.spilled;
  release();
  const t1 = performance.now();
  for (const [i, h] of handles.entries()) await h.write(12 * MiB, bodies[i]!.subarray(12 * MiB));
  const resumed = performance.now() - t1;
  for (const h of handles) await h.close();
  let same = 0;
  for (const [i, body] of bodies.entries()) {
    const chunks: Buffer[] = [];
    for await (const c of await s3.read(`f${i}.bin`)) chunks.push(c as Buffer);
    const hash = (b: Buffer) => createHash('sha256').update(b).digest('hex');
    if (hash(Buffer.concat(chunks)) === hash(body)) same++;
    await s3.remove(`f${i}.bin`);
  }
  await s3.close();
  clearInterval(alive);
  console.log(
    JSON.stringify({ waitedMs: waited, spilled, restored: partSpills.restored, resumedMs: resumed, same, n }),
  );
}

if (first === 'one') {
  await measure(second!, Number(third));
} else {
  const n = Number(first ?? 6);
  const rounds = Number(second ?? 3);
  const me = fileURLToPath(import.meta.url);
  const builds = [
    { name: 'this', root: resolve('.') },
    ...(process.env.BENCH_BUILDS ?? '')
      .split(',')
      .filter(Boolean)
      .map((root) => ({ name: root, root: resolve(root) })),
  ];
  console.log(`# ${n} idle handles × 12 MiB filled of 16 MiB parts, budget ${16 * n} MiB, one 16 MiB waiter`);
  for (let r = 1; r <= rounds; r++) {
    for (const b of r % 2 ? builds : [...builds].reverse()) {
      const out = execFileSync(process.execPath, ['--import', 'tsx', me, 'one', b.root, String(n)], {
        env: process.env,
      });
      const line = out.toString().trim().split('\n').at(-1)!;
      const m = JSON.parse(line);
      console.log(
        `round ${r} ${b.name}: waited ${m.waitedMs.toFixed(0)} ms, ${m.spilled} parts spilled (${m.spilled * 12} MiB to disk and back), next writes of all ${n} handles ${m.resumedMs.toFixed(0)} ms, ${m.same}/${n} files byte-identical; load ${execFileSync('cat', ['/proc/loadavg']).toString().split(' ').slice(0, 3).join(' ')}`,
      );
    }
  }
}
