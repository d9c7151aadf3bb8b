/**
 * Issue 9's memory must-show on its own: peak RSS of a fresh `ferry serve` (its own process, S3
 * home on RGW) while UPLOADS OpenSSH `sftp -b put`s of UPLOAD_MB MB run at once, against the
 * process buffer budget (`FERRY_BUFFER_BUDGET`, bytes; 256 MiB by default: src/s3/buffer-budget.ts).
 * Sampled every 100 ms inside the server (bench/mem-probe.mjs: memoryUsage(), the budget's
 * held/peak/kept buffers, fresh and dropped part buffers, GC counts) and from /proc (VmRSS; VmHWM at
 * the end). Then, unless SPEED=0, a GIB GiB upload through Ferry and with `aws s3 cp` in the same
 * run (the ratio: uploads must not get slower). Every uploaded object's size is checked. Ends by
 * deleting the buckets and running RGW's gc.
 *
 * Run: npx tsc -p tsconfig.build.json && RGW_BASE=/tmp/ferry-rgw-dev npx tsx bench/sftp-memory.ts
 *      [UPLOADS=20] [UPLOAD_MB=200] [GIB=1]
 * The RSS is also split by kind of mapping (/proc/PID/smaps: glibc's heap, anonymous mappings,
 * files) before the uploads and at the largest of the samples taken every second.
 * Env: FERRY_BUFFER_BUDGET (passed to Ferry), BENCH_NODE_FLAGS (extra node flags for Ferry,
 * e.g. `--max-semi-space-size=64`), SPEED=0 (skip the 1 GiB step).
 *
 * Side by side (A/B in one run, the way to compare on a loaded machine): BENCH_VARIANTS, a JSON
 * list of servers run at the same time, each with its own uploads, bucket and figures:
 *   [{"name": "main", "root": "/tmp/mem-main", "env": {...}, "nodeArgs": [...]}, {"name": "this"}]
 * `root`: a folder with another build (bin/, dist/, package.json, a node_modules link — e.g.
 * `git archive main | tar -x -C /tmp/mem-main && ln -s $PWD/node_modules /tmp/mem-main/ && (cd
 * /tmp/mem-main && npx tsc -p tsconfig.build.json)`); default this checkout. `env` and `nodeArgs`
 * are added to that server's (e.g. `{"FERRY_MEM_PROBE_GC_MS": "250"}` with `["--expose-gc"]`: a
 * full GC every 250 ms, a probe telling uncollected garbage from memory in use). The SPEED step
 * then puts the big file through each server in turn, `aws s3 cp` between, and again in reverse.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cleanupRgw, load, MiB, rssOf as proc, rgwFromEnv, sh, timedOk, writeRandom } from './bench-lib.js';
import { freePort, keygen, sftpBatchOk, spawnFerry, sshOptions } from './ssh-lib.js';

const UPLOADS = Number(process.argv[2] ?? 20);
const UPLOAD_MB = Number(process.argv[3] ?? 200);
const GIB = Number(process.argv[4] ?? 1);
const SPEED = process.env.SPEED !== '0';

const rgw = rgwFromEnv();
const { endpoint, childEnv } = rgw;

const work = mkdtempSync(join(tmpdir(), 'ferry-bench-mem-'));
const bucket = `bench-mem-${Date.now().toString(36)}`;
const children: ChildProcess[] = [];

interface Variant {
  name: string;
  root?: string;
  env?: Record<string, string>;
  nodeArgs?: string[];
}
const variants: Variant[] = process.env.BENCH_VARIANTS
  ? (JSON.parse(process.env.BENCH_VARIANTS) as Variant[])
  : [{ name: 'this' }];
const bucketOf = (i: number) => (i === 0 ? bucket : `${bucket}-${i}`);

interface Probe {
  t: number;
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  budgetHeld: number;
  budgetPeak: number;
  /** Part buffers kept for reuse (within limit − held). */
  budgetPooled: number;
  chargedPeak?: number;
  /** Part buffers (≥ 1 MiB) allocated new, and let go to the GC, so far. */
  fresh?: number;
  dropped?: number;
  /** Parts spilled to disk while a reservation waited (part-spill.ts), so far. */
  spilled?: number;
  minorGcs?: number;
  majorGcs?: number;
  /** Socket reads parsed in place, from a copy, into a new buffer (socket-reads.ts), so far. */
  readsInPlace?: number;
  readsCopied?: number;
  readsFresh?: number;
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

/**
 * Where a process's resident memory lives, bytes by kind of mapping (/proc/PID/smaps): glibc's
 * main heap (`[heap]`: what `malloc` hands out below its mmap threshold — Buffers' memory unless
 * they are big enough to get their own mapping), anonymous mappings by size (V8's heap pages are
 * 256 KiB; a big Buffer above the mmap threshold is its own mapping; other threads' malloc arenas
 * are 64 MiB), and files (node's code).
 */
function smaps(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  let kind = '';
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (m) {
      const kib = (Number.parseInt(m[2]!, 16) - Number.parseInt(m[1]!, 16)) / 1024;
      const name = m[3]!;
      if (name === '[heap]') kind = 'heap';
      else if (name.startsWith('/')) kind = 'files';
      else if (name) kind = 'other';
      else if (kib >= 60 * 1024 && kib <= 64 * 1024) kind = 'anon64M';
      else if (kib >= 1024) kind = 'anon1M+';
      else kind = 'anon<1M';
    } else if (line.startsWith('Rss:')) {
      out[kind] = (out[kind] ?? 0) + Number(line.split(/\s+/)[1]) * 1024;
    }
  }
  return out;
}

/** One server of the run: its process, port, files and what it measured. */
interface Server {
  v: Variant;
  i: number;
  pid: number;
  port: number;
  probeFile: string;
  budget: number;
  base: number;
  sampled: number;
  baseMaps: Record<string, number>;
  peakMaps: Record<string, number>;
  peakMapsRss: number;
  secs: number;
  lines: string[];
  summary: Record<string, string>;
}

async function main(): Promise<void> {
  console.log(`# bench/sftp-memory.ts ${new Date().toISOString()} load ${load()}`);
  const key = keygen(join(work, 'clientkey'));
  const small = join(work, 'upload.bin');
  const smallBytes = UPLOAD_MB * 1e6;
  writeRandom(small, smallBytes);
  writeRandom(join(work, 'warm.bin'), MiB);
  const ssh = sshOptions(key);
  const put = async (port: number, from: string, to: string) =>
    (await sftpBatchOk(work, ssh, port, `put ${from} ${to}\n`, childEnv)).secs;
  const nodeFlags = (process.env.BENCH_NODE_FLAGS ?? '').split(/\s+/).filter(Boolean);

  const servers: Server[] = [];
  for (const [i, v] of variants.entries()) {
    sh(rgw, 'aws', ['--endpoint-url', endpoint, 's3', 'mb', `s3://${bucketOf(i)}`]);
    const port = await freePort();
    const probeFile = join(work, `probe-${i}.jsonl`);
    const env: Record<string, string> = { FERRY_MEM_PROBE: probeFile, ...v.env };
    const ferry = await spawnFerry({
      rgw,
      bucket: bucketOf(i),
      data: join(work, `data-${i}`),
      port,
      keyPath: key,
      nodeArgs: [...nodeFlags, ...(v.nodeArgs ?? []), '--import', './bench/mem-probe.mjs'],
      env,
      children,
      root: v.root,
    });
    // One small upload first, so the baseline includes what the first transfer loads (SDK, ssh2).
    await put(port, join(work, 'warm.bin'), '/warm.bin');
    const budget =
      Number.parseInt(
        env.FERRY_MEMORY_BUDGET_BYTES ??
          env.FERRY_BUFFER_BUDGET ??
          process.env.FERRY_MEMORY_BUDGET_BYTES ??
          process.env.FERRY_BUFFER_BUDGET ??
          '',
        10,
      ) || 256 * MiB;
    servers.push({
      v,
      i,
      pid: ferry.pid!,
      port,
      probeFile,
      budget,
      base: 0,
      sampled: 0,
      baseMaps: {},
      peakMaps: {},
      peakMapsRss: 0,
      secs: 0,
      lines: [],
      summary: {},
    });
  }
  await new Promise((r) => setTimeout(r, 1500));

  for (const s of servers) {
    s.base = proc(s.pid).rss;
    s.sampled = s.base;
    writeFileSync(`/proc/${s.pid}/clear_refs`, '5'); // VmHWM := current RSS
    s.baseMaps = smaps(s.pid);
    s.peakMaps = s.baseMaps;
  }
  const t0 = Date.now();
  let ticks = 0;
  const sampler = setInterval(() => {
    ticks++;
    for (const s of servers) {
      try {
        s.sampled = Math.max(s.sampled, proc(s.pid).rss);
        if (ticks % 10 === 0) {
          const maps = smaps(s.pid);
          const total = Object.values(maps).reduce((a, b) => a + b, 0);
          if (total > s.peakMapsRss) [s.peakMaps, s.peakMapsRss] = [maps, total];
        }
      } catch {}
    }
  }, 100);
  await Promise.all(
    servers.map(async (s) => {
      await Promise.all(Array.from({ length: UPLOADS }, (_, i) => put(s.port, small, `/par-${i}.bin`)));
      s.secs = (Date.now() - t0) / 1000;
    }),
  );
  clearInterval(sampler);
  await new Promise((r) => setTimeout(r, 300));

  for (const s of servers) {
    const hwm = proc(s.pid).hwm;
    const ps = probes(s.probeFile, t0);
    const max = (k: keyof Probe) => Math.max(0, ...ps.map((p) => (p[k] as number | undefined) ?? 0));
    const first = probes(s.probeFile)
      .filter((p) => p.t < t0)
      .at(-1);
    const last = ps.at(-1);
    const during = (k: keyof Probe) => ((last?.[k] as number) ?? 0) - ((first?.[k] as number) ?? 0);
    // Every object whole.
    const listing = sh(rgw, 'aws', [
      '--endpoint-url',
      endpoint,
      's3',
      'ls',
      `s3://${bucketOf(s.i)}/ferry/bench/`,
    ]);
    const sizes = [...listing.matchAll(/\s(\d+) par-\d+\.bin/g)].map((m) => Number(m[1]));
    const whole = sizes.filter((n) => n === smallBytes).length;
    const peak = Math.max(s.sampled, hwm);
    const out = (line: string) => console.log(`[${s.v.name}] ${line}`);
    out(
      `# ${UPLOADS} × ${UPLOAD_MB} MB sftp puts: ${s.secs.toFixed(1)} s, ${((UPLOADS * smallBytes) / MiB / s.secs).toFixed(1)} MiB/s total, ${whole}/${UPLOADS} objects whole; load ${load()}`,
    );
    out(
      `#   RSS before ${mib(s.base)}, peak ${mib(peak)} (VmHWM ${mib(hwm)}, sampled ${mib(s.sampled)}), over the start ${mib(peak - s.base)}`,
    );
    out(
      `#   budget ${mib(s.budget)} (FERRY_MEMORY_BUDGET_BYTES or FERRY_BUFFER_BUDGET), its high-water mark ${mib(max('budgetPeak'))}, held + kept buffers at most ${mib(Math.max(0, ...ps.map((p) => p.budgetHeld + (p.budgetPooled ?? 0))))}, charged at most ${mib(max('chargedPeak'))}`,
    );
    out(
      `#   part buffers during the puts: ${during('fresh')} allocated new, ${during('dropped')} let go to the GC, ${during('spilled')} spilled to disk; GCs: ${during('minorGcs')} minor, ${during('majorGcs')} major; socket reads ${during('readsInPlace')} in place, ${during('readsCopied')} copied, ${during('readsFresh')} into a new buffer`,
    );
    out(
      `#   inside (peaks, 100 ms samples): rss ${mib(max('rss'))}, heapUsed ${mib(max('heapUsed'))}, heapTotal ${mib(max('heapTotal'))}, external ${mib(max('external'))}, arrayBuffers ${mib(max('arrayBuffers'))} (before: heapTotal ${mib(first?.heapTotal ?? 0)}, external ${mib(first?.external ?? 0)}, arrayBuffers ${mib(first?.arrayBuffers ?? 0)})`,
    );
    const kinds = [...new Set([...Object.keys(s.baseMaps), ...Object.keys(s.peakMaps)])];
    out(
      `#   where the RSS is (smaps, before → at the largest 1 s sample): ${kinds.map((k) => `${k} ${mib(s.baseMaps[k] ?? 0)} → ${mib(s.peakMaps[k] ?? 0)}`).join(', ')}`,
    );
    s.summary = {
      'over start': mib(peak - s.base),
      'over budget': mib(peak - s.base - s.budget),
      'budget hwm': mib(max('budgetPeak')),
      arrayBuffers: mib(max('arrayBuffers')),
      'heap (smaps)': mib(s.peakMaps.heap ?? 0),
      'new/dropped': `${during('fresh')}/${during('dropped')}`,
      spilled: String(during('spilled')),
      'major GCs': String(during('majorGcs')),
      'MiB/s': ((UPLOADS * smallBytes) / MiB / s.secs).toFixed(1),
    };
    if (whole !== UPLOADS)
      throw new Error(`only ${whole} of ${UPLOADS} uploads are whole on ${s.v.name}: ${listing}`);
    // Room on the OSD for the next step (and for the other helpers).
    sh(rgw, 'aws', [
      '--endpoint-url',
      endpoint,
      's3',
      'rm',
      '--quiet',
      '--recursive',
      `s3://${bucketOf(s.i)}/ferry/bench/`,
    ]);
  }
  if (servers.length > 1) {
    const cols = Object.keys(servers[0]!.summary);
    console.log(`# side by side | ${cols.join(' | ')}`);
    for (const s of servers) console.log(`# ${s.v.name} | ${cols.map((c) => s.summary[c]).join(' | ')}`);
  }

  if (SPEED) {
    const big = join(work, 'big.bin');
    writeRandom(big, GIB * 1024 * MiB);
    const bytes = GIB * 1024 * MiB;
    const r = (secs: number) => (bytes / MiB / secs).toFixed(1);
    const times = new Map<string, number[]>();
    const run = async (s: Server, round: number) => {
      const secs = await put(s.port, big, `/big-${round}.bin`);
      times.set(s.v.name, [...(times.get(s.v.name) ?? []), secs]);
    };
    for (const s of servers) await run(s, 1);
    const a = (
      await timedOk(
        'aws',
        ['--endpoint-url', endpoint, 's3', 'cp', '--quiet', big, `s3://${bucket}/aws/big.bin`],
        childEnv,
      )
    ).secs;
    for (const s of [...servers].reverse()) await run(s, 2);
    for (const s of servers) {
      const t = times.get(s.v.name)!;
      console.log(
        `[${s.v.name}] # ${GIB} GiB upload MiB/s: ferry ${t.map(r).join(' / ')}, aws ${r(a)} (between); ferry/aws ${t.map((x) => `${(a / x).toFixed(2)}×`).join(' and ')}; load ${load()}`,
      );
    }
  }
}

try {
  await main();
} finally {
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  for (let i = 1; i < variants.length; i++) {
    try {
      sh(rgw, 'aws', ['--endpoint-url', endpoint, 's3', 'rb', `s3://${bucketOf(i)}`, '--force']);
    } catch {}
  }
  cleanupRgw({ rgw, bucket, children, work, cephConf: rgw.env.CEPH_CONF });
}
