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
 * BENCH_WARM=1: each measured get right after an unmeasured one (warm: the first get after 5 s
 * idle allocates fresh part buffers and, under load, runs into a Mark-Compact every ~10 MiB).
 * BENCH_GC_LOG=path: each server's --trace-gc output to path.<build>.
 *
 * BENCH_SMALL=N (default 0): instead of the big file, N objects of 4 KiB under one folder and a
 * `get /small/* dest/` of all of them; prints S3 requests per file from RGW's access log too.
 *
 * Run: npx tsc -p tsconfig.build.json && RGW_BASE=/tmp/ferry-rgw-dev BENCH_BUILDS=/tmp/base \
 *        npx tsx bench/sftp-get-cpu.ts [MB=256] [rounds=3]
 */
import { appendFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
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
  } else {
    const big = join(work, 'big.bin');
    writeRandom(big, MB * MiB);
    aws(rgw, ['s3', 'cp', '--quiet', big, `s3://${bucket}/ferry/bench/big.bin`]);
    rmSync(big);
    bytes = MB * MiB;
    batch = (dest) => `get /big.bin ${dest}/big.bin\n`;
  }

  const servers: { name: string; port: number; pid: number; gcs: () => number }[] = [];
  for (const b of builds) {
    const port = await freePort();
    const child = await spawnFerry({
      rgw,
      bucket,
      data: join(work, `data-${b.name}`),
      port,
      keyPath: key,
      children,
      nodeArgs: ['--trace-gc'],
      ...(b.root ? { root: b.root } : {}),
    });
    let markCompacts = 0;
    let tail = '';
    child.stdout?.on('data', (d: Buffer) => {
      const text = tail + d.toString();
      const lines = text.split('\n');
      tail = lines.pop() ?? '';
      for (const l of lines) if (l.includes('Mark-Compact')) markCompacts++;
      if (process.env.BENCH_GC_LOG) appendFileSync(`${process.env.BENCH_GC_LOG}.${b.name}`, d);
    });
    servers.push({ name: b.name, port, pid: child.pid!, gcs: () => markCompacts });
  }

  const results = new Map<string, { secs: number; cpu: number; flt: number; gc: number; req?: string }[]>();
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? servers : [...servers].reverse();
    for (const s of order) {
      const dest = join(work, `down-${s.name}-${r}`);
      mkdirSync(dest);
      // BENCH_WARM=1: an unmeasured get first, so the measured one finds the part buffers the
      // budget keeps (dropped after 5 s idle, while the other builds ran).
      if (process.env.BENCH_WARM === '1') await sftpBatchOk(work, ssh, s.port, batch(dest), rgw.childEnv);
      const before = procStat(s.pid);
      const gc0 = s.gcs();
      const from = SMALL > 0 ? logLines(rgw) : 0;
      const t = await sftpBatchOk(work, ssh, s.port, batch(dest), rgw.childEnv);
      const after = procStat(s.pid);
      const row = {
        secs: t.secs,
        cpu: (after.cpuMs - before.cpuMs) / (bytes / MiB),
        flt: (after.minflt - before.minflt) / (bytes / MiB),
        gc: s.gcs() - gc0,
        ...(SMALL > 0 ? { req: await s3Requests(rgw, bucket, from) } : {}),
      };
      rmSync(dest, { recursive: true, force: true });
      results.set(s.name, [...(results.get(s.name) ?? []), row]);
      const unit =
        SMALL > 0
          ? `${((t.secs * 1000) / SMALL).toFixed(1)} ms/file`
          : `${(bytes / MiB / t.secs).toFixed(1)} MiB/s`;
      console.log(
        `round ${r + 1} ${s.name.padEnd(10)} ${t.secs.toFixed(2)} s  ${unit}  server CPU ${row.cpu.toFixed(2)} ms/MiB` +
          `  minflt ${row.flt.toFixed(1)}/MiB  Mark-Compacts ${row.gc}${row.req ? `  ${row.req}` : ''}  (load ${load()})`,
      );
    }
  }
  console.log(
    `\nmedians (${rounds} rounds, ${SMALL > 0 ? `${SMALL} × 4 KiB` : `${MB} MiB`}), load after ${load()}:`,
  );
  const base = results.get(servers[0]!.name)!;
  for (const [name, rows] of results) {
    const cpu = median(rows.map((x) => x.cpu));
    const secs = median(rows.map((x) => x.secs));
    console.log(
      `${name.padEnd(10)} wall ${secs.toFixed(2)} s  CPU ${cpu.toFixed(2)} ms/MiB (× ${(cpu / median(base.map((x) => x.cpu))).toFixed(2)} of ${servers[0]!.name})` +
        `  minflt ${median(rows.map((x) => x.flt)).toFixed(1)}/MiB  Mark-Compacts ${median(rows.map((x) => x.gc))}`,
    );
  }
  writeFileSync(join(tmpdir(), 'ferry-bench-getcpu-last.json'), JSON.stringify(Object.fromEntries(results)));
}

await withRgwBench('getcpu', main, { dir: process.env.BENCH_DIR ?? '/dev/shm' });
