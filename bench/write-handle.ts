/**
 * The write handle against Storage.write: 1 GiB written to S3 through `openWrite` in 32 KiB
 * in-order writes (what an SFTP client sends, each awaited), versus `Storage.write` of the same
 * bytes as a stream of 64 KiB chunks. Each runs in its own process so its peak RSS is its own.
 * Each runs twice, interleaved (write, handle, handle, write), and the two runs are summed.
 * Prints both throughputs, the ratio handle/write (target ≥ 0.9) and the peak RSS of each.
 * Run (RGW from scripts/rgw/start.sh, its env sourced):
 *   source $RGW_BASE/rgw.env; unset AWS_CA_BUNDLE; npx tsx bench/write-handle.ts [MiB=1024]
 */
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { createS3Client } from '../src/s3/client.js';
import { parseConnection } from '../src/s3/connection.js';
import { S3Storage } from '../src/storage/s3/s3-storage.js';

const MiB = 1024 * 1024;
const [, , first, second] = process.argv;

/** One measurement in this process: prints `{ mibs, rssMiB }` as JSON. */
async function measure(how: 'handle' | 'write', size: number): Promise<void> {
  const conn = parseConnection({
    bucket: process.env.BENCH_BUCKET ?? 'ferry-test',
    prefix: `bench-wh-${randomBytes(4).toString('hex')}`,
    region: 'us-east-1',
    endpoint: process.env.S3_ENDPOINT ?? 'http://127.0.0.1:17480',
    accessKeyId: process.env.AWS_ACCESS_KEY_ID,
    secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY,
  });
  const storage = new S3Storage(createS3Client(conn), conn);
  // The same bytes for both: a 16 MiB random block, 32 KiB at a time, cycled.
  const block = randomBytes(16 * MiB);
  const chunk = (at: number, n: number) => block.subarray(at % block.length, (at % block.length) + n);
  const t = performance.now();
  if (how === 'handle') {
    const h = await storage.openWrite('obj.bin', { size });
    for (let at = 0; at < size; at += 32 * 1024) await h.write(at, chunk(at, Math.min(32 * 1024, size - at)));
    await h.close();
  } else {
    async function* body() {
      for (let at = 0; at < size; at += 64 * 1024) yield chunk(at, Math.min(64 * 1024, size - at));
    }
    await storage.write('obj.bin', body(), { size });
  }
  const s = (performance.now() - t) / 1000;
  await storage.remove('obj.bin');
  await storage.close();
  const use = process.resourceUsage();
  const cpu = (use.userCPUTime + use.systemCPUTime) / 1e6;
  console.log(JSON.stringify({ mibs: size / MiB / s, seconds: s, cpu, rssMiB: use.maxRSS / 1024 }));
}

if (first === 'handle' || first === 'write') {
  await measure(first, Number(second) * MiB);
} else {
  const mib = Number(first ?? 1024);
  const me = fileURLToPath(import.meta.url);
  const run = (how: string) =>
    JSON.parse(
      execFileSync(process.execPath, [...process.execArgv, me, how, String(mib)], { encoding: 'utf8' })
        .trim()
        .split('\n')
        .pop()!,
    ) as { mibs: number; seconds: number; cpu: number; rssMiB: number };
  console.log(`== ${mib} MiB to ${process.env.S3_ENDPOINT}: write handle (32 KiB writes) vs Storage.write`);
  // Interleaved (write, handle, handle, write) and summed: the machine's load drifts.
  const w1 = run('write');
  const h1 = run('handle');
  const h2 = run('handle');
  const w2 = run('write');
  const sum = (a: typeof w1, b: typeof w1) => ({
    seconds: a.seconds + b.seconds,
    mibs: (2 * mib) / (a.seconds + b.seconds),
    cpu: a.cpu + b.cpu,
    rssMiB: Math.max(a.rssMiB, b.rssMiB),
  });
  const write = sum(w1, w2);
  const handle = sum(h1, h2);
  const line = (name: string, r: typeof write) =>
    console.log(
      `  ${name.padEnd(28)} ${r.seconds.toFixed(2).padStart(7)} s ${r.mibs.toFixed(0).padStart(5)} MiB/s   CPU ${r.cpu.toFixed(1)} s   peak RSS ${r.rssMiB.toFixed(0)} MiB`,
    );
  line('Storage.write (64 KiB chunks)', write);
  line('openWrite + 32 KiB writes', handle);
  console.log(`  ratio handle/write = ${(handle.mibs / write.mibs).toFixed(2)} (target ≥ 0.9)`);
}
