/**
 * What the TypeScript benches on the dev RGW share (as bench/lib.sh is for the shell benches): their
 * positional arguments, the RGW from RGW_BASE's rgw.env, a bucket and work folder per run and their
 * clean-up (bucket, gc, folder), the `aws` CLI, seeding objects, RGW's access log, commands timed,
 * and what /proc says of a process (CPU, page faults, memory). The SSH side is bench/ssh-lib.ts.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';

export const MiB = 1024 * 1024;

/** The load average, three figures. */
export const load = (): string =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

/** The median of `xs` (the upper one for an even count). */
export const median = (xs: number[]): number =>
  [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

/**
 * The bench's positional arguments, named and in the order of `defaults` (each one's default):
 * `numberArgs({ MB: 256, rounds: 3 })` reads `[MB=256] [rounds=3]`. An argument that is not a
 * number above 0 is an error naming it, with the usage (never a silent NaN).
 */
export function numberArgs<D extends Record<string, number>>(
  defaults: D,
  argv: readonly string[] = process.argv.slice(2),
): { [K in keyof D]: number } {
  const names = Object.keys(defaults);
  const out: Record<string, number> = {};
  names.forEach((name, i) => {
    const given = argv[i];
    const value = given === undefined ? defaults[name]! : Number(given);
    if (!Number.isFinite(value) || value <= 0) {
      const usage = names.map((n) => `[${n}=${defaults[n]}]`).join(' ');
      throw new Error(
        `${name} must be a number above 0, got ${JSON.stringify(given)}; usage: npx tsx bench/${basename(process.argv[1] ?? 'bench')} ${usage}`,
      );
    }
    out[name] = value;
  });
  return out as { [K in keyof D]: number };
}

export interface Rgw {
  base: string;
  /** rgw.env's variables. */
  env: Record<string, string>;
  endpoint: string;
  ak: string;
  sk: string;
  accessLog: string;
  /** This process's environment with RGW's keys, without what would send the SDK or CLI elsewhere. */
  childEnv: NodeJS.ProcessEnv;
}

/** The RGW to measure against: RGW_BASE (default /tmp/ferry-rgw-dev), its rgw.env. */
export function rgwFromEnv(): Rgw {
  const base = process.env.RGW_BASE ?? '/tmp/ferry-rgw-dev';
  const env = Object.fromEntries(
    [...readFileSync(join(base, 'rgw.env'), 'utf8').matchAll(/^export (\w+)=(.*)$/gm)].map((m) => [
      m[1]!,
      m[2]!.replace(/^['"]|['"]$/g, ''),
    ]),
  );
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
  return {
    base,
    env,
    endpoint: env.S3_ENDPOINT!,
    ak,
    sk,
    accessLog: join(base, 'cluster/log/ceph-client.rgw.a.log'),
    childEnv,
  };
}

/** A command's stdout (throws on a non-zero exit). */
export function sh(rgw: Rgw, cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { env: rgw.childEnv, encoding: 'utf8', maxBuffer: 256 * MiB });
}

/** `aws --endpoint-url <RGW> …args`: its stdout (throws on a non-zero exit). */
export function aws(rgw: Rgw, args: string[]): string {
  return sh(rgw, 'aws', ['--endpoint-url', rgw.endpoint, ...args]);
}

/** As aws, timed (Timed.secs), failing loudly on a non-zero exit. */
export function awsTimed(rgw: Rgw, args: string[]): Promise<Timed> {
  return timedOk('aws', ['--endpoint-url', rgw.endpoint, ...args], rgw.childEnv);
}

/** How many keys are under `prefix/` (ListObjectsV2, every page): whether a seed is there already. */
export async function countKeys(client: S3Client, bucket: string, prefix: string): Promise<number> {
  let count = 0;
  let token: string | undefined;
  do {
    const page = await client.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: `${prefix}/`, ContinuationToken: token }),
    );
    count += page.KeyCount ?? 0;
    token = page.NextContinuationToken;
  } while (token);
  return count;
}

/** `count` small objects straight into S3 under bucket/prefix, as another tool would (seed-objects.ts). */
export function seedObjects(rgw: Rgw, bucket: string, prefix: string, count: number): void {
  execFileSync('npx', ['tsx', 'bench/seed-objects.ts', bucket, prefix, String(count)], {
    env: { ...rgw.childEnv, AWS_ENDPOINT_URL: rgw.endpoint, S3_ENDPOINT: rgw.endpoint },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

/** One run of a bench on RGW: its bucket, its work folder, the processes it started. */
export interface RgwRun {
  rgw: Rgw;
  bucket: string;
  work: string;
  /** Stopped at the end: add each child as soon as it starts (so a failed start is cleaned up too). */
  children: ChildProcess[];
}

/**
 * Run `main` on a bucket and a work folder of its own (`bench-<name>-…`, made under `dir`, default
 * the OS temp folder), then, whatever happened, clean up as cleanupRgw does (RGW_CEPH_CONF, else
 * rgw.env's CEPH_CONF, for the gc).
 */
export async function withRgwBench(
  name: string,
  main: (run: RgwRun) => Promise<void>,
  options: { dir?: string } = {},
): Promise<void> {
  const rgw = rgwFromEnv();
  const work = mkdtempSync(join(options.dir ?? tmpdir(), `ferry-bench-${name}-`));
  const bucket = `bench-${name}-${Date.now().toString(36)}`;
  const children: ChildProcess[] = [];
  try {
    aws(rgw, ['s3', 'mb', `s3://${bucket}`]);
    await main({ rgw, bucket, work, children });
  } finally {
    // RGW frees deleted data only when its garbage collector runs: collect it now.
    cleanupRgw({ rgw, bucket, children, work, cephConf: process.env.RGW_CEPH_CONF ?? rgw.env.CEPH_CONF });
  }
}

export interface Timed {
  secs: number;
  out: string;
  err: string;
  code: number | null;
}

/** Run a command to its end: seconds taken, stdout, stderr, exit code (never rejects). */
export function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<Timed> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code) => resolve({ secs: (performance.now() - t0) / 1000, out, err, code }));
  });
}

/** As timed, failing loudly on a non-zero exit. */
export async function timedOk(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<Timed> {
  const r = await timed(cmd, args, env);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}: ${r.err.slice(-2000)}`);
  return r;
}

/** A file of `bytes` random bytes, written a MiB at a time (each MiB numbered, so none repeats). */
export function writeRandom(path: string, bytes: number): void {
  const fd = openSync(path, 'w');
  const chunk = randomBytes(MiB);
  for (let at = 0, i = 0; at < bytes; at += MiB, i++) {
    chunk.writeUInt32LE(i, 0);
    writeSync(fd, chunk, 0, Math.min(MiB, bytes - at));
  }
  closeSync(fd);
}

/** Lines in RGW's access log now. */
export function logLines(rgw: Rgw): number {
  return existsSync(rgw.accessLog) ? readFileSync(rgw.accessLog, 'utf8').split('\n').length - 1 : 0;
}

/** The bucket's requests in RGW's access log after line `from`: LIST / HEAD / GET / other. */
export async function s3Requests(rgw: Rgw, bucket: string, from: number): Promise<string> {
  await new Promise((r) => setTimeout(r, 1500)); // the log is written asynchronously
  const lines = readFileSync(rgw.accessLog, 'utf8').split('\n').slice(from);
  // HEADBUCKET: the storage pool's bucket check (at most one per 30 s per storage), not the listing's.
  const n = { LIST: 0, HEAD: 0, HEADBUCKET: 0, GET: 0, other: 0 };
  for (const l of lines) {
    if (!l.includes('beast:') || !l.includes(` /${bucket}`)) continue;
    const m = /"(GET|HEAD|PUT|POST|DELETE) (\S+)/.exec(l);
    if (!m) continue;
    if (m[1] === 'GET' && /[?&](list-type|prefix|delimiter)=/.test(m[2]!)) n.LIST++;
    else if (m[1] === 'HEAD' && m[2] === `/${bucket}/`) n.HEADBUCKET++;
    else if (m[1] === 'HEAD') n.HEAD++;
    else if (m[1] === 'GET') n.GET++;
    else n.other++;
  }
  return `LIST=${n.LIST} HEAD=${n.HEAD} HEADBUCKET=${n.HEADBUCKET} GET=${n.GET} other=${n.other}`;
}

/** A process's resident memory now (VmRSS) and its high-water mark (VmHWM), bytes. */
export function rssOf(pid: number): { rss: number; hwm: number } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)?.[1] ?? 0) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

/**
 * The peak resident memory of `pid` from now on: VmHWM reset to the current RSS, VmRSS sampled
 * every `everyMs` (`onTick`, if given, runs after each sample, with its count). `stop()` ends the
 * sampling: the largest sample and VmHWM (bytes).
 */
export function watchRss(
  pid: number,
  everyMs: number,
  onTick?: (tick: number) => void,
): { before: number; stop(): { sampled: number; hwm: number } } {
  const before = rssOf(pid).rss;
  writeFileSync(`/proc/${pid}/clear_refs`, '5'); // VmHWM := current RSS
  let sampled = before;
  let ticks = 0;
  const sampler = setInterval(() => {
    try {
      sampled = Math.max(sampled, rssOf(pid).rss);
      onTick?.(++ticks);
    } catch {}
  }, everyMs);
  return {
    before,
    stop() {
      clearInterval(sampler);
      return { sampled, hwm: rssOf(pid).hwm };
    },
  };
}

/** A process's CPU so far (user + system, ms) and minor page faults, from /proc/PID/stat. */
export function procStat(pid: number): { cpuMs: number; minflt: number } {
  const TICK = 100; // clock ticks per second (getconf CLK_TCK)
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  // Fields from the third (state): minflt is field 10, utime 14, stime 15 (1-based, man proc).
  return { minflt: Number(f[7]), cpuMs: ((Number(f[11]) + Number(f[12])) * 1000) / TICK };
}

/**
 * The end of an S3 bench: stop the children, delete the bucket, run RGW's garbage collector
 * (`cephConf`, when known: RGW frees deleted data only then) and remove the work folder.
 */
export function cleanupRgw(options: {
  rgw: Rgw;
  bucket: string;
  children: ChildProcess[];
  work: string;
  cephConf?: string | undefined;
}): void {
  for (const c of options.children) if (c.exitCode === null) c.kill('SIGTERM');
  try {
    aws(options.rgw, ['s3', 'rb', `s3://${options.bucket}`, '--force']);
  } catch (err) {
    console.error(`cleanup: ${(err as Error).message.slice(0, 300)}`);
  }
  if (options.cephConf) {
    try {
      execFileSync(
        'timeout',
        ['300', 'radosgw-admin', '-c', options.cephConf, 'gc', 'process', '--include-all'],
        { stdio: 'ignore' },
      );
    } catch {}
  }
  rmSync(options.work, { recursive: true, force: true });
}
