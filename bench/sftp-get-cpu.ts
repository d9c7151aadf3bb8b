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
 * Run: npx tsc -p tsconfig.build.json && RGW_BASE=/tmp/ferry-rgw-dev BENCH_BUILDS=/tmp/base \
 *        npx tsx bench/sftp-get-cpu.ts [MB=256] [rounds=3]
 */
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
  const results = new Map<string, Row[]>();
  const measure = async (s: (typeof servers)[number], label: string, r: number): Promise<void> => {
    const dest = join(work, `down-${label.replace('/', '-')}-${r}`);
    mkdirSync(dest);
    if (gcLog) appendFileSync(`${gcLog}.${s.name}`, `=== round ${r + 1} ${label}\n`);
    const before = procStat(s.pid);
    const client0 = childrenCpuMs();
    const store0 = storeCpuMs();
    const gc0 = s.gcs();
    s.mem();
    const from = SMALL > 0 ? logLines(rgw) : 0;
    const t = await sftpBatchOk(work, ssh, s.port, batch(dest), rgw.childEnv);
    const after = procStat(s.pid);
    const peak = s.mem();
    const row: Row = {
      secs: t.secs,
      cpu: (after.cpuMs - before.cpuMs) / (bytes / MiB),
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
        `${row.req ? `  ${row.req}` : ''}  (load ${load()})`,
    );
  };
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? servers : [...servers].reverse();
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
        await sftpBatchOk(work, ssh, s.port, batch(dest), rgw.childEnv);
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
