/**
 * An SFTP download from S3, builds side by side in one run: OpenSSH `sftp -b get` from `ferry
 * serve` processes (each its own build) on the dev RGW, rounds interleaved (the order alternates),
 * and for each get the server process's CPU (user+system from /proc/PID/stat) per MiB, its minor
 * page faults per MiB, its Mark-Compacts (`--trace-gc`) and the wall time. CPU per MiB and GC
 * counts are what a loaded machine changes least; wall time is printed but means little under load.
 *
 * Builds: this checkout's bin/ + dist/ ("this"), and every folder in BENCH_BUILDS (comma-separated;
 * each holds bin/, dist/, package.json and a node_modules link — e.g. `cp -r bin dist package.json
 * /tmp/base && ln -s $PWD/node_modules /tmp/base/`), named by the folder's last part.
 *
 * BENCH_WARM=1: each measured get right after an unmeasured one (warm: the first get after the
 * budget let its kept part buffers go at idle is "cold", docs/notes/issue-9.md "Session 4: lead").
 * BENCH_COLD=1: cold and warm side by side: each round and build, a get after BENCH_IDLE_MS
 * (default 4000) of idle, the servers started with FERRY_BUFFER_IDLE_MS = BENCH_IDLE_MS − 1500
 * (so the budget has let its kept buffers go), then at once a second get; rows `<build>/cold`
 * and `<build>/warm`. A build that does not read FERRY_BUFFER_IDLE_MS keeps its own idle time.
 * BENCH_MEM=1: the servers sample process.memoryUsage() every 100 ms; each row shows the highest
 * `external` (V8's count, which drives its external-memory GCs) and `arrayBuffers` of the get.
 * BENCH_NODE_ARGS: extra node flags for every server (space-separated); a build folder's
 * `node-args` file adds flags for that build only. BENCH_GC_LOG=path: each server's stdout
 * (--trace-gc and whatever the flags print, with `=== <row>` marks) to path.<build>.
 *
 * BENCH_SMALL=N (default 0): instead of the big file, N objects of 4 KiB under one folder and a
 * `get /small/* dest/` of all of them; prints S3 requests per file from RGW's access log too.
 *
 * BENCH_PUT=1: uploads (`put` of an MB MiB local file) instead of gets, measured the same way.
 *
 * BENCH_AWS=1: rows for `aws s3 cp` of the same object beside the builds (client = aws's CPU):
 * `aws-8x10` with its defaults (8 MiB ranges, 10 at once), `aws-16x6` with Ferry's download
 * pattern (16 MiB ranges, 6 at once) — the store's CPU per MiB for both request patterns.
 * BENCH_STORE_SYSCALLS=1: for each get, radosgw's sendto and read syscalls per MiB (`perf stat`
 * of the syscall tracepoints on every radosgw process; needs perf): whether RGW writes the body to
 * the client in more, smaller pieces for one pattern than the other.
 *
 * Run: npx tsc -p tsconfig.build.json && RGW_BASE=/tmp/ferry-rgw-dev BENCH_BUILDS=/tmp/base \
 *        npx tsx bench/sftp-get-cpu.ts [MB=256] [rounds=3]
 */

import { spawn } from 'node:child_process';
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import {
  aws,
  awsTimed,
  load,
  logLines,
  MiB,
  median,
  numberArgs,
  procStat,
  type RgwRun,
  s3Requests,
  withRgwBench,
  writeRandom,
} from './bench-lib.js';
import { clientKey, freePort, sftpBatchOk, spawnFerry } from './ssh-lib.js';

const { MB, rounds } = numberArgs({ MB: 256, rounds: 3 });
const SMALL = Number(process.env.BENCH_SMALL ?? 0);
const COLD = process.env.BENCH_COLD === '1';
const IDLE_MS = Number(process.env.BENCH_IDLE_MS ?? 4000);
const MEM = process.env.BENCH_MEM === '1';
const STORE_SYSCALLS = process.env.BENCH_STORE_SYSCALLS === '1';
const builds: { name: string; root?: string }[] = [
  { name: 'this' },
  ...(process.env.BENCH_BUILDS ?? '')
    .split(',')
    .filter(Boolean)
    .map((root) => ({ name: basename(root), root })),
];

async function main({ rgw, bucket, work, children }: RgwRun): Promise<void> {
  console.log(`# bench/sftp-get-cpu.ts ${new Date().toISOString()}  load average ${load()}`);
  const { key, ssh } = clientKey(work);

  let bytes: number;
  let batch: (dest: string) => string;
  if (SMALL > 0) {
    const dir = join(work, 'small');
    mkdirSync(dir);
    for (let i = 0; i < SMALL; i++) writeRandom(join(dir, `f${String(i).padStart(5, '0')}.bin`), 4096);
    aws(rgw, ['s3', 'cp', '--quiet', '--recursive', dir, `s3://${bucket}/ferry/bench/small/`]);
    bytes = SMALL * 4096;
    batch = (dest) => `get /small/* ${dest}/\n`;
  } else if (process.env.BENCH_PUT === '1') {
    // Uploads instead: `put` of a local file of MB MiB (kept in the work folder) to a new name.
    const big = join(work, 'big.bin');
    writeRandom(big, MB * MiB);
    bytes = MB * MiB;
    batch = (dest) => `put ${big} /up-${basename(dest)}.bin\n`;
  } else {
    const big = join(work, 'big.bin');
    writeRandom(big, MB * MiB);
    aws(rgw, ['s3', 'cp', '--quiet', big, `s3://${bucket}/ferry/bench/big.bin`]);
    rmSync(big);
    bytes = MB * MiB;
    batch = (dest) => `get /big.bin ${dest}/big.bin\n`;
  }

  const sampler = join(work, 'mem-sampler.cjs');
  writeFileSync(
    sampler,
    `setInterval(() => { const m = process.memoryUsage(); process.stdout.write('mem ' + m.external + ' ' + m.arrayBuffers + '\\n'); }, 100).unref();\n`,
  );
  const gcLog = process.env.BENCH_GC_LOG;
  const servers: {
    name: string;
    port: number;
    pid: number;
    gcs: () => number;
    /** Highest external / arrayBuffers bytes sampled since the last call. */
    mem: () => { external: number; arrayBuffers: number };
  }[] = [];
  for (const b of builds) {
    const port = await freePort();
    const extra =
      b.root && existsSync(join(b.root, 'node-args')) ? readFileSync(join(b.root, 'node-args'), 'utf8') : '';
    const child = await spawnFerry({
      rgw,
      bucket,
      data: join(work, `data-${b.name}`),
      port,
      keyPath: key,
      children,
      nodeArgs: [
        '--trace-gc',
        ...`${process.env.BENCH_NODE_ARGS ?? ''} ${extra}`.split(/\s+/).filter(Boolean),
        ...(MEM ? ['--require', sampler] : []),
      ],
      ...(COLD ? { env: { FERRY_BUFFER_IDLE_MS: String(Math.max(500, IDLE_MS - 1500)) } } : {}),
      ...(b.root ? { root: b.root } : {}),
    });
    let markCompacts = 0;
    let tail = '';
    let peak = { external: 0, arrayBuffers: 0 };
    child.stdout?.on('data', (d: Buffer) => {
      const text = tail + d.toString();
      const lines = text.split('\n');
      tail = lines.pop() ?? '';
      for (const l of lines) {
        if (l.includes('Mark-Compact')) markCompacts++;
        else if (l.startsWith('mem ')) {
          const [, ext, ab] = l.split(' ');
          peak = {
            external: Math.max(peak.external, Number(ext)),
            arrayBuffers: Math.max(peak.arrayBuffers, Number(ab)),
          };
        }
      }
      if (gcLog) appendFileSync(`${gcLog}.${b.name}`, d);
    });
    const mem = () => {
      const p = peak;
      peak = { external: 0, arrayBuffers: 0 };
      return p;
    };
    servers.push({ name: b.name, port, pid: child.pid!, gcs: () => markCompacts, mem });
  }

  type Row = {
    secs: number;
    cpu: number;
    client: number;
    store: number;
    flt: number;
    gc: number;
    req?: string;
    sys?: string;
    ext: number;
    ab: number;
  };
  // The client's CPU (sftp + the ssh it runs): this process's waited children (cutime + cstime).
  const childrenCpuMs = () => {
    const f = readFileSync('/proc/self/stat', 'utf8');
    const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[13]) + Number(fields[14])) * 1000) / 100;
  };
  // The store's: every radosgw and ceph-osd process (other users of the dev RGW count too).
  const storePids = readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => {
      try {
        return ['radosgw', 'ceph-osd'].includes(readFileSync(`/proc/${d}/comm`, 'utf8').trim());
      } catch {
        return false;
      }
    })
    .map(Number);
  const storeCpuMs = () =>
    storePids.reduce((sum, pid) => {
      try {
        return sum + procStat(pid).cpuMs;
      } catch {
        return sum;
      }
    }, 0);
  // BENCH_STORE_SYSCALLS: radosgw's sendto / read syscalls while a get runs (perf stat, tracepoints).
  const rgwPids = storePids.filter((pid) => readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'radosgw');
  const rgwSyscalls = (): (() => Promise<{ sendto: number; read: number }>) => {
    const perf = spawn(
      'perf',
      ['stat', '-x', ',', '-e', 'syscalls:sys_enter_sendto,syscalls:sys_enter_read', '-p', rgwPids.join(',')],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let out = '';
    perf.stderr.on('data', (d) => (out += d));
    return async () => {
      perf.kill('SIGINT');
      await new Promise((resolve) => perf.on('close', resolve));
      const count = (event: string) =>
        Number(
          out
            .split('\n')
            .find((l) => l.includes(event))
            ?.split(',')[0] ?? Number.NaN,
        );
      return { sendto: count('sys_enter_sendto'), read: count('sys_enter_read') };
    };
  };
  const results = new Map<string, Row[]>();
  const measure = async (s: Get, label: string, r: number): Promise<void> => {
    const dest = join(work, `down-${label.replace('/', '-')}-${r}`);
    mkdirSync(dest);
    const counting = STORE_SYSCALLS ? rgwSyscalls() : undefined;
    if (counting) await new Promise((resolve) => setTimeout(resolve, 300)); // perf attaches
    if (gcLog && s.pid) appendFileSync(`${gcLog}.${s.name}`, `=== round ${r + 1} ${label}\n`);
    const before = s.pid ? procStat(s.pid) : { cpuMs: 0, minflt: 0 };
    const client0 = childrenCpuMs();
    const store0 = storeCpuMs();
    const gc0 = s.gcs();
    s.mem();
    const from = SMALL > 0 ? logLines(rgw) : 0;
    const t = await s.get(dest);
    const sys = await counting?.();
    const after = s.pid ? procStat(s.pid) : { cpuMs: 0, minflt: 0 };
    const peak = s.mem();
    const row: Row = {
      secs: t.secs,
      cpu: (after.cpuMs - before.cpuMs) / (bytes / MiB),
      ...(sys
        ? {
            sys: `rgw sendto ${(sys.sendto / (bytes / MiB)).toFixed(1)}/MiB read ${(sys.read / (bytes / MiB)).toFixed(1)}/MiB`,
          }
        : {}),
      client: (childrenCpuMs() - client0) / (bytes / MiB),
      store: (storeCpuMs() - store0) / (bytes / MiB),
      flt: (after.minflt - before.minflt) / (bytes / MiB),
      gc: s.gcs() - gc0,
      ext: peak.external / MiB,
      ab: peak.arrayBuffers / MiB,
      ...(SMALL > 0 ? { req: await s3Requests(rgw, bucket, from) } : {}),
    };
    rmSync(dest, { recursive: true, force: true });
    results.set(label, [...(results.get(label) ?? []), row]);
    const unit =
      SMALL > 0
        ? `${((t.secs * 1000) / SMALL).toFixed(1)} ms/file`
        : `${(bytes / MiB / t.secs).toFixed(1)} MiB/s`;
    console.log(
      `round ${r + 1} ${label.padEnd(12)} ${t.secs.toFixed(2)} s  ${unit}  server CPU ${row.cpu.toFixed(2)} ms/MiB` +
        `  client ${row.client.toFixed(2)}  store ${row.store.toFixed(2)}` +
        `  minflt ${row.flt.toFixed(1)}/MiB  Mark-Compacts ${row.gc}` +
        (MEM ? `  external ≤ ${row.ext.toFixed(0)} MiB, arrayBuffers ≤ ${row.ab.toFixed(0)} MiB` : '') +
        `${row.req ? `  ${row.req}` : ''}${row.sys ? `  ${row.sys}` : ''}  (load ${load()})`,
    );
  };
  type Get = {
    name: string;
    pid?: number;
    gcs: () => number;
    mem: () => { external: number; arrayBuffers: number };
    get: (dest: string) => Promise<{ secs: number }>;
  };
  const gets: Get[] = servers.map((s) => ({
    ...s,
    get: (dest: string) => sftpBatchOk(work, ssh, s.port, batch(dest), rgw.childEnv),
  }));
  if (process.env.BENCH_AWS === '1' && SMALL === 0 && process.env.BENCH_PUT !== '1') {
    // The same object through `aws s3 cp`: its defaults, and Ferry's ranges (16 MiB, 6 at once).
    for (const [name, chunk, conc] of [
      ['aws-8x10', 8, 10],
      ['aws-16x6', 16, 6],
    ] as const) {
      const config = join(work, `aws-config-${name}`);
      writeFileSync(
        config,
        `[default]\ns3 =\n  multipart_chunksize = ${chunk}MB\n  multipart_threshold = ${chunk}MB\n  max_concurrent_requests = ${conc}\n`,
      );
      const env = { ...rgw.childEnv, AWS_CONFIG_FILE: config };
      gets.push({
        name,
        gcs: () => 0,
        mem: () => ({ external: 0, arrayBuffers: 0 }),
        get: (dest) =>
          awsTimed({ ...rgw, childEnv: env }, [
            's3',
            'cp',
            '--quiet',
            `s3://${bucket}/ferry/bench/big.bin`,
            join(dest, 'big.bin'),
          ]),
      });
    }
  }
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? gets : [...gets].reverse();
    for (const s of order) {
      if (COLD) {
        await new Promise((resolve) => setTimeout(resolve, IDLE_MS));
        await measure(s, `${s.name}/cold`, r);
        await measure(s, `${s.name}/warm`, r);
        continue;
      }
      // BENCH_WARM=1: an unmeasured get first, so the measured one finds the part buffers the
      // budget keeps (let go after a minute idle).
      if (process.env.BENCH_WARM === '1') {
        const dest = join(work, `warmup-${s.name}-${r}`);
        mkdirSync(dest);
        await s.get(dest);
        rmSync(dest, { recursive: true, force: true });
      }
      await measure(s, s.name, r);
    }
  }
  console.log(
    `\nmedians (${rounds} rounds, ${SMALL > 0 ? `${SMALL} × 4 KiB` : `${MB} MiB`}), load after ${load()}:`,
  );
  const [baseName, base] = [...results][0]!;
  for (const [name, rows] of results) {
    const cpu = median(rows.map((x) => x.cpu));
    const secs = median(rows.map((x) => x.secs));
    console.log(
      `${name.padEnd(12)} wall ${secs.toFixed(2)} s  CPU ${cpu.toFixed(2)} ms/MiB (× ${(cpu / median(base.map((x) => x.cpu))).toFixed(2)} of ${baseName})` +
        `  client ${median(rows.map((x) => x.client)).toFixed(2)}  store ${median(rows.map((x) => x.store)).toFixed(2)} ms/MiB` +
        `  minflt ${median(rows.map((x) => x.flt)).toFixed(1)}/MiB  Mark-Compacts ${median(rows.map((x) => x.gc))}` +
        (MEM ? `  external ≤ ${median(rows.map((x) => x.ext)).toFixed(0)} MiB` : ''),
    );
  }
  writeFileSync(join(tmpdir(), 'ferry-bench-getcpu-last.json'), JSON.stringify(Object.fromEntries(results)));
}

await withRgwBench('getcpu', main, { dir: process.env.BENCH_DIR ?? '/dev/shm' });
