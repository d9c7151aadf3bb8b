/**
 * The HTTP file API's upload and download of one large file (curl -T / curl -o) against the same
 * transfer straight to S3 with the aws CLI, and the server's peak memory meanwhile (the server
 * runs in this process: RSS and live heap + Buffers sampled every 20 ms; with BENCH_GC=1 and
 * --expose-gc a full GC runs before each sample, so the live figure is what is really held).
 * A streamed transfer's growth stays bounded (parts in flight) whatever the file size; one that
 * grows with the size holds the file. Needs an S3 endpoint and keys in the environment.
 * Run: source /tmp/ferry-rgw-dev/rgw.env && npx tsx bench/http-transfer.ts [MiB=256] [bucket=ferry-test]
 *  or: BENCH_GC=1 node --expose-gc --import tsx bench/http-transfer.ts 256
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openAccounts } from '../src/accounts/accounts.js';
import type { Actor } from '../src/accounts/types.js';
import { openStore } from '../src/db/database.js';
import { buildHttpApp } from '../src/protocols/http/app.js';
import { createLogger } from '../src/server/logger.js';
import { createMetrics } from '../src/server/metrics.js';
import { createSessionManager } from '../src/session/session-manager.js';

const mib = Number(process.argv[2] ?? 256);
const bucket = process.argv[3] ?? 'ferry-test';
const endpoint = process.env.S3_ENDPOINT ?? process.env.AWS_ENDPOINT_URL;
if (!endpoint || !process.env.AWS_ACCESS_KEY_ID) throw new Error('source /tmp/ferry-rgw-dev/rgw.env first');
const system: Actor = { kind: 'system', name: 'system', role: 'admin' };
const dir = mkdtempSync(join(tmpdir(), 'ferry-bench-http-'));
const prefix = `bench-http-${randomBytes(4).toString('hex')}`;

const store = await openStore(join(dir, 'ferry.db'));
const accounts = await openAccounts(store, {
  secretKey: randomBytes(32),
  defaultHome: { type: 's3', connection: 'main', prefix: 'homes' },
});
await accounts.connections.create(
  {
    name: 'main',
    settings: {
      bucket,
      prefix,
      endpoint,
      region: process.env.AWS_REGION ?? 'us-east-1',
      accessKeyId: process.env.AWS_ACCESS_KEY_ID,
      secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY,
    },
  },
  system,
);
await accounts.users.create({ username: 'bench', password: 'bench-password-1' }, system);
const metrics = createMetrics();
const sessions = createSessionManager({ accounts, store, s3ClientOptions: { observer: metrics.s3Observer } });
const app = buildHttpApp({ accounts, sessions, metrics, logger: createLogger({ level: 'warn' }) });
await app.listen({ host: '127.0.0.1', port: 0 });
const port = (app.server.address() as { port: number }).port;
const url = `http://127.0.0.1:${port}/api/v1/user/files/content?path=/big.bin`;

const src = join(dir, 'big.bin');
const fd = openSync(src, 'w');
const chunk = randomBytes(1024 * 1024);
for (let i = 0; i < mib; i++) writeSync(fd, chunk);
closeSync(fd);

/** Live memory: JS heap + Buffers (RSS also keeps what malloc freed but did not hand back). */
const live = () => {
  const m = process.memoryUsage();
  return { rss: m.rss, live: m.heapUsed + m.arrayBuffers };
};
let peak = 0;
let peakLive = 0;
const sampler = setInterval(() => {
  if (process.env.BENCH_GC) global.gc?.();
  const m = live();
  peak = Math.max(peak, m.rss);
  peakLive = Math.max(peakLive, m.live);
}, 20);

/** Run a command off the event loop (the server in this process must keep serving). */
async function timed(label: string, cmd: string, args: string[]): Promise<void> {
  const { spawn } = await import('node:child_process');
  global.gc?.();
  const before = live();
  peak = before.rss;
  peakLive = before.live;
  const started = performance.now();
  await new Promise<void>((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'inherit'] });
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} exited ${code}`))));
  });
  const s = (performance.now() - started) / 1000;
  const growth = (peak - before.rss) / 1024 / 1024;
  const liveGrowth = (peakLive - before.live) / 1024 / 1024;
  console.log(
    `${label.padEnd(34)} ${(mib / s).toFixed(1).padStart(7)} MiB/s   ${s.toFixed(2).padStart(6)} s   server growth: RSS ${growth.toFixed(0).padStart(4)} MiB, heap+buffers ${liveGrowth.toFixed(0).padStart(4)} MiB`,
  );
}

console.log(`${mib} MiB, S3 ${endpoint}, bucket ${bucket}/${prefix}`);
await timed('ferry HTTP upload (curl -T)', 'curl', [
  '-sSf',
  '-u',
  'bench:bench-password-1',
  '-T',
  src,
  url,
  '-o',
  '/dev/null',
]);
await timed('ferry HTTP download (curl -o)', 'curl', [
  '-sSf',
  '-u',
  'bench:bench-password-1',
  url,
  '-o',
  join(dir, 'down.bin'),
]);
if (statSync(join(dir, 'down.bin')).size !== mib * 1024 * 1024) throw new Error('download size differs');
const s3url = `s3://${bucket}/${prefix}/direct.bin`;
const awsArgs = ['--endpoint-url', endpoint, 's3', 'cp', '--only-show-errors'];
await timed('aws s3 cp upload (direct to S3)', 'aws', [...awsArgs, src, s3url]);
await timed('aws s3 cp download (direct)', 'aws', [...awsArgs, s3url, join(dir, 'down2.bin')]);
clearInterval(sampler);

execFileSync('aws', [
  '--endpoint-url',
  endpoint,
  's3',
  'rm',
  '--recursive',
  '--only-show-errors',
  `s3://${bucket}/${prefix}/`,
]);
await app.close();
await sessions.shutdown(0);
await accounts.close();
await store.close();
rmSync(dir, { recursive: true, force: true });
