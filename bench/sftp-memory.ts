/**
 * Issue 9's memory must-show on its own: peak RSS of a fresh `ferry serve` (its own process, S3
 * home on RGW) while UPLOADS OpenSSH `sftp -b put`s of UPLOAD_MB MB run at once, against the
 * process buffer budget (`FERRY_BUFFER_BUDGET`, bytes; 256 MiB by default: src/s3/buffer-budget.ts).
 * Sampled every 100 ms inside the server (bench/mem-probe.mjs: memoryUsage() and the budget's
 * held/peak) and from /proc (VmRSS; VmHWM at the end). Then, unless SPEED=0, a GIB GiB upload
 * through Ferry and with `aws s3 cp` in the same run (the ratio: uploads must not get slower).
 * Every uploaded object's size is checked. Ends by deleting the bucket and running RGW's gc.
 *
 * Run: npx tsc -p tsconfig.build.json && RGW_BASE=/tmp/ferry-rgw-dev npx tsx bench/sftp-memory.ts
 *      [UPLOADS=20] [UPLOAD_MB=200] [GIB=1]
 * Env: FERRY_BUFFER_BUDGET (passed to Ferry), BENCH_NODE_FLAGS (extra node flags for Ferry,
 * e.g. `--max-semi-space-size=64`), SPEED=0 (skip the 1 GiB step).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';

const UPLOADS = Number(process.argv[2] ?? 20);
const UPLOAD_MB = Number(process.argv[3] ?? 200);
const GIB = Number(process.argv[4] ?? 1);
const SPEED = process.env.SPEED !== '0';
const MiB = 1024 * 1024;

const rgwBase = process.env.RGW_BASE ?? '/tmp/ferry-rgw-dev';
const env = Object.fromEntries(
  [...readFileSync(join(rgwBase, 'rgw.env'), 'utf8').matchAll(/^export (\w+)=(.*)$/gm)].map((m) => [
    m[1]!,
    m[2]!.replace(/^['"]|['"]$/g, ''),
  ]),
);
const endpoint = env.S3_ENDPOINT!;
const ak = env.AWS_ACCESS_KEY_ID!;
const sk = env.AWS_SECRET_ACCESS_KEY!;
const childEnv: NodeJS.ProcessEnv = {
  ...process.env,
  AWS_ACCESS_KEY_ID: ak,
  AWS_SECRET_ACCESS_KEY: sk,
  AWS_REGION: 'us-east-1',
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
};
delete childEnv.AWS_CA_BUNDLE;
delete childEnv.AWS_ENDPOINT_URL;
delete childEnv.AWS_ENDPOINT_URL_S3;
delete childEnv.AWS_PROFILE;

const work = mkdtempSync(join(tmpdir(), 'ferry-bench-mem-'));
const bucket = `bench-mem-${Date.now().toString(36)}`;
const children: ChildProcess[] = [];
const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { env: childEnv, encoding: 'utf8', maxBuffer: 64 * MiB });
}

function timed(cmd: string, args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, { env: childEnv, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${err.slice(-2000)}`));
      else resolve((performance.now() - t0) / 1000);
    });
  });
}

function writeRandom(path: string, bytes: number): void {
  const fd = openSync(path, 'w');
  const chunk = randomBytes(MiB);
  for (let at = 0, i = 0; at < bytes; at += MiB, i++) {
    chunk.writeUInt32LE(i, 0);
    writeSync(fd, chunk, 0, Math.min(MiB, bytes - at));
  }
  closeSync(fd);
}

function waitFor(child: ChildProcess, re: RegExp, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`${what} did not start: ${seen.slice(-2000)}`)), 60_000);
    const on = (d: Buffer) => {
      seen += d;
      if (re.test(seen)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', on);
    child.stderr?.on('data', on);
  });
}

async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function proc(pid: number): { rss: number; hwm: number } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)?.[1] ?? 0) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

interface Probe {
  t: number;
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  budgetHeld: number;
  budgetPeak: number;
}

function probes(file: string, from = 0): Probe[] {
  try {
    return readFileSync(file, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Probe)
      .filter((p) => p.t >= from);
  } catch {
    return [];
  }
}

const mib = (n: number) => `${(n / MiB).toFixed(0)} MiB`;

async function main(): Promise<void> {
  console.log(`# bench/sftp-memory.ts ${new Date().toISOString()} load ${load()}`);
  sh('aws', ['--endpoint-url', endpoint, 's3', 'mb', `s3://${bucket}`]);
  const key = join(work, 'clientkey');
  sh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
  const small = join(work, 'upload.bin');
  const smallBytes = UPLOAD_MB * 1e6;
  writeRandom(small, smallBytes);

  const port = await freePort();
  const storage = `s3+http://${encodeURIComponent(ak)}:${encodeURIComponent(sk)}@${endpoint.replace(/^https?:\/\//, '')}/${bucket}/ferry`;
  const data = join(work, 'data');
  const probeFile = join(work, 'probe.jsonl');
  const nodeFlags = (process.env.BENCH_NODE_FLAGS ?? '').split(/\s+/).filter(Boolean);
  const ferry = spawn(
    'node',
    [
      ...nodeFlags,
      '--import',
      './bench/mem-probe.mjs',
      'bin/ferry.js',
      'serve',
      '--data',
      data,
      '--storage',
      storage,
      '--http',
      '127.0.0.1:0',
      '--sftp',
      `127.0.0.1:${port}`,
      '--log-level',
      'warn',
    ],
    {
      env: { ...childEnv, FERRY_ADMIN_PASSWORD: 'bench-admin-password', FERRY_MEM_PROBE: probeFile },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  children.push(ferry);
  await waitFor(ferry, /sftp: listening on sftp:\/\/\S+/, 'ferry serve');
  sh('node', [
    'bin/ferry.js',
    'user',
    'add',
    'bench',
    '--data',
    data,
    '--password',
    'bench-password-123',
    '--ssh-key',
    `${key}.pub`,
  ]);
  const ssh = [
    '-i',
    key,
    '-o',
    'StrictHostKeyChecking=no',
    '-o',
    'UserKnownHostsFile=/dev/null',
    '-o',
    'BatchMode=yes',
    '-o',
    'LogLevel=ERROR',
  ];
  const put = (from: string, to: string) => {
    const file = join(work, `batch-${randomBytes(4).toString('hex')}`);
    writeFileSync(file, `put ${from} ${to}\n`);
    return timed('sftp', [...ssh, '-P', String(port), '-b', file, 'bench@127.0.0.1']);
  };
  // One small upload first, so the baseline includes what the first transfer loads (SDK, ssh2).
  writeRandom(join(work, 'warm.bin'), MiB);
  await put(join(work, 'warm.bin'), '/warm.bin');
  await new Promise((r) => setTimeout(r, 1500));

  const pid = ferry.pid!;
  const base = proc(pid).rss;
  writeFileSync(`/proc/${pid}/clear_refs`, '5'); // VmHWM := current RSS
  const t0 = Date.now();
  let sampled = base;
  const sampler = setInterval(() => {
    try {
      sampled = Math.max(sampled, proc(pid).rss);
    } catch {}
  }, 100);
  await Promise.all(Array.from({ length: UPLOADS }, (_, i) => put(small, `/par-${i}.bin`)));
  const secs = (Date.now() - t0) / 1000;
  clearInterval(sampler);
  const hwm = proc(pid).hwm;
  await new Promise((r) => setTimeout(r, 300));
  const ps = probes(probeFile, t0);
  const max = (k: keyof Probe) => Math.max(0, ...ps.map((p) => p[k]));
  const budget = Number.parseInt(process.env.FERRY_BUFFER_BUDGET ?? '', 10) || 256 * MiB;
  // Every object whole.
  const listing = sh('aws', ['--endpoint-url', endpoint, 's3', 'ls', `s3://${bucket}/ferry/bench/`]);
  const sizes = [...listing.matchAll(/\s(\d+) par-\d+\.bin/g)].map((m) => Number(m[1]));
  const whole = sizes.filter((s) => s === smallBytes).length;
  const peak = Math.max(sampled, hwm);
  console.log(
    `# ${UPLOADS} × ${UPLOAD_MB} MB sftp puts: ${secs.toFixed(1)} s, ${((UPLOADS * smallBytes) / MiB / secs).toFixed(1)} MiB/s total, ${whole}/${UPLOADS} objects whole; load ${load()}`,
  );
  console.log(
    `#   RSS before ${mib(base)}, peak ${mib(peak)} (VmHWM ${mib(hwm)}, sampled ${mib(sampled)}), over the start ${mib(peak - base)}`,
  );
  console.log(
    `#   budget ${mib(budget)} (FERRY_BUFFER_BUDGET), its high-water mark ${mib(max('budgetPeak'))}`,
  );
  console.log(
    `#   inside (peaks, 100 ms samples): rss ${mib(max('rss'))}, heapUsed ${mib(max('heapUsed'))}, heapTotal ${mib(max('heapTotal'))}, external ${mib(max('external'))}, arrayBuffers ${mib(max('arrayBuffers'))}`,
  );
  if (whole !== UPLOADS) throw new Error(`only ${whole} of ${UPLOADS} uploads are whole: ${listing}`);

  if (SPEED) {
    const big = join(work, 'big.bin');
    writeRandom(big, GIB * 1024 * MiB);
    const bytes = GIB * 1024 * MiB;
    const f = await put(big, '/big.bin');
    const a = await timed('aws', [
      '--endpoint-url',
      endpoint,
      's3',
      'cp',
      '--quiet',
      big,
      `s3://${bucket}/aws/big.bin`,
    ]);
    const f2 = await put(big, '/big2.bin');
    const r = (s: number) => (bytes / MiB / s).toFixed(1);
    console.log(
      `# ${GIB} GiB upload MiB/s: ferry ${r(f)} / aws ${r(a)} / ferry again ${r(f2)}; ferry/aws ${(a / f).toFixed(2)}× and ${(a / f2).toFixed(2)}×; load ${load()}`,
    );
  }
}

async function cleanup(): Promise<void> {
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  try {
    sh('aws', ['--endpoint-url', endpoint, 's3', 'rb', `s3://${bucket}`, '--force']);
  } catch (err) {
    console.error(`cleanup: ${(err as Error).message.slice(0, 300)}`);
  }
  if (env.CEPH_CONF) {
    try {
      execFileSync(
        'timeout',
        ['300', 'radosgw-admin', '-c', env.CEPH_CONF, 'gc', 'process', '--include-all'],
        { stdio: 'ignore' },
      );
    } catch {}
  }
  rmSync(work, { recursive: true, force: true });
}

try {
  await main();
} finally {
  await cleanup();
}
