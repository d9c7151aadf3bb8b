/**
 * Issue 9's benchmark, one run on one RGW, side by side:
 * 1. 1 GiB upload and download with OpenSSH `sftp -b` into Ferry (`ferry serve` as its own
 *    process) vs `rclone serve sftp` (cache-mode off, --use-server-modtime; recipe in
 *    ../shared/reference/peers.md) vs `aws s3 cp` straight to S3 (the ceiling).
 * 2. `ls -l` over sftp of a folder of 10,000 objects on both servers: wall time, lines, and the S3
 *    requests each made (counted in RGW's access log, `beast:` lines for this run's own bucket).
 * 3. Peak RSS of the Ferry process (VmRSS sampled every 50 ms from /proc, and VmHWM after
 *    resetting it) while 20 `sftp` clients upload 200 MB each at once, against the configured
 *    budget (FERRY_BUFFER_BUDGET, 256 MiB by default, + the process's own baseline).
 * Ends by deleting the bucket and running `radosgw-admin gc process` (as bench/transfer.sh).
 *
 * Run: RGW_BASE=/tmp/ferry-rgw-dev npx tsx bench/sftp.ts [GIB=1] [UPLOADS=20] [UPLOAD_MB=200]
 * (BENCH_TRANSFER_ONLY=1: the 1 GiB transfers only; BENCH_ROUNDS=N: N interleaved rounds of them,
 * medians; BENCH_UPLOAD_ONLY=1: no downloads.)
 * (needs `npx tsc -p tsconfig.build.json` first: Ferry runs from bin/ferry.js.)
 */
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
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
  seedObjects,
  watchRss,
  withRgwBench,
  writeRandom,
} from './bench-lib.js';
import {
  clientKey,
  freePort,
  rcloneConf,
  rcloneKeys,
  sftpBatchOk,
  spawnFerry,
  spawnRclone,
} from './ssh-lib.js';

const { GiB, UPLOADS, UPLOAD_MB } = numberArgs({ GiB: 1, UPLOADS: 20, UPLOAD_MB: 200 });
const TRANSFER_ONLY = process.env.BENCH_TRANSFER_ONLY === '1';

const fmt = (bytes: number, secs: number) => (bytes / MiB / secs).toFixed(1);

async function main({ rgw, bucket, work, children }: RgwRun): Promise<void> {
  console.log(`# bench/sftp.ts ${new Date().toISOString()}  load average ${load()}`);

  // Keys, the test files.
  const { key, ssh } = clientKey(work);
  const { hostKey, authorizedKeys } = rcloneKeys(work, key);
  const big = join(work, 'big.bin');
  writeRandom(big, Math.ceil(GiB * 1024) * MiB); // whole MiB
  const small = join(work, 'upload.bin');
  writeRandom(small, Math.round((UPLOAD_MB * 1e6) / MiB) * MiB);
  const bigBytes = GiB * 1024 * MiB;

  // Ferry: its own process, homes under s3://bucket/ferry/<user>/.
  const ferryPort = await freePort();
  const ferry = await spawnFerry({
    rgw,
    bucket,
    data: join(work, 'data'),
    port: ferryPort,
    keyPath: key,
    children,
  });

  // rclone serve sftp on the same user folder (so both list the same 10,000 objects).
  const conf = rcloneConf(rgw, work);
  const rclonePort = await freePort();
  const rclone = await spawnRclone({
    rgw,
    bucket,
    conf,
    port: rclonePort,
    authorizedKeys,
    hostKey,
    children,
  });

  const sftpBatch = (port: number, batch: string) => sftpBatchOk(work, ssh, port, batch, rgw.childEnv);

  // 1. 1 GiB up and down.
  const rows: [string, string, string][] = [];
  // Each row is printed as soon as it is measured too (a later step failing keeps the earlier figures).
  const push = rows.push.bind(rows);
  rows.push = (...r: [string, string, string][]) => {
    for (const row of r) console.log(`# ${row.join(' | ')}`);
    return push(...r);
  };
  // BENCH_ROUNDS=N (default 1): N rounds of each direction, the three tools' order rotated each
  // round (a noisy machine then shows in the spread), each round printed, then the medians and the
  // ratios of the medians. BENCH_UPLOAD_ONLY=1: uploads only (no downloads).
  const tools = ['ferry', 'rclone', 'aws'] as const;
  type Tool = (typeof tools)[number];
  const upload = async (tool: Tool, r: number): Promise<number> => {
    if (tool === 'aws')
      return (await awsTimed(rgw, ['s3', 'cp', '--quiet', big, `s3://${bucket}/aws/big.bin`])).secs;
    const port = tool === 'ferry' ? ferryPort : rclonePort;
    // A new name each round (an overwrite would cost rclone and Ferry the same, but keep it plain).
    return (await sftpBatch(port, `put ${big} /big-${tool}-${r}.bin\n`)).secs;
  };
  const out = join(work, 'down.bin');
  const download = async (tool: Tool): Promise<number> => {
    const secs =
      tool === 'aws'
        ? (await awsTimed(rgw, ['s3', 'cp', '--quiet', `s3://${bucket}/aws/big.bin`, out])).secs
        : (await sftpBatch(tool === 'ferry' ? ferryPort : rclonePort, `get /big-${tool}-0.bin ${out}\n`))
            .secs;
    rmSync(out, { force: true });
    return secs;
  };
  // CPU per MiB of each transfer, by process: the client's (sftp + the ssh it runs, or aws: this
  // process's waited children, /proc/self/stat cutime + cstime), the Ferry server's (with its minor
  // page faults: a get that finds no kept part buffers shows ~250 per MiB; docs/notes/issue-9.md
  // "Session 5: download") and the store's (every radosgw and ceph-osd process on the machine: other
  // users of the dev RGW count there too).
  const childrenCpuMs = () => {
    const s = readFileSync('/proc/self/stat', 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[13]) + Number(f[14])) * 1000) / 100; // cutime, cstime (fields 16, 17)
  };
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
  const measured = async (tool: Tool, what: string, run: () => Promise<number>): Promise<number> => {
    const server = tool === 'rclone' ? rclone : ferry;
    const before = {
      client: childrenCpuMs(),
      store: storeCpuMs(),
      ferry: procStat(ferry.pid!),
      server: procStat(server.pid!),
    };
    const secs = await run();
    const ferryAfter = procStat(ferry.pid!);
    const serverAfter = procStat(server.pid!);
    const mib = bigBytes / MiB;
    const per = (ms: number) => (ms / mib).toFixed(2);
    console.log(
      `# ${tool} ${what}: CPU ms/MiB client ${per(childrenCpuMs() - before.client)}` +
        (tool === 'ferry'
          ? `, ferry server ${per(ferryAfter.cpuMs - before.ferry.cpuMs)} (${((ferryAfter.minflt - before.ferry.minflt) / mib).toFixed(0)} minor faults/MiB)`
          : tool === 'rclone'
            ? `, rclone server ${per(serverAfter.cpuMs - before.server.cpuMs)}`
            : '') +
        `, radosgw+osd ${per(storeCpuMs() - before.store)} (load ${load()})`,
    );
    return secs;
  };
  const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 1));
  const directions =
    process.env.BENCH_UPLOAD_ONLY === '1' ? (['upload'] as const) : (['upload', 'download'] as const);
  for (const what of directions) {
    const times: Record<Tool, number[]> = { ferry: [], rclone: [], aws: [] };
    for (let r = 0; r < ROUNDS; r++) {
      const order = tools.map((_, i) => tools[(i + r) % tools.length]!);
      for (const tool of order) {
        const run = () => (what === 'upload' ? upload(tool, r) : download(tool));
        times[tool].push(await measured(tool, what, run));
      }
      // Only round 0's uploads are downloaded: later ones go at once (the OSD is small).
      if (what === 'upload' && r > 0)
        for (const tool of ['ferry', 'rclone'])
          aws(rgw, ['s3', 'rm', '--quiet', `s3://${bucket}/ferry/bench/big-${tool}-${r}.bin`]);
      if (ROUNDS > 1)
        console.log(
          `# round ${r + 1} ${what}: ${tools.map((t) => `${t} ${fmt(bigBytes, times[t][r]!)}`).join('  ')} MiB/s` +
            `  ferry/rclone ${(times.rclone[r]! / times.ferry[r]!).toFixed(2)}×  ferry/aws ${(times.aws[r]! / times.ferry[r]!).toFixed(2)}×  (load ${load()})`,
        );
    }
    const t = { ferry: median(times.ferry), rclone: median(times.rclone), aws: median(times.aws) };
    rows.push([
      `${GiB} GiB ${what} MiB/s${ROUNDS > 1 ? ` (median of ${ROUNDS})` : ''}`,
      `ferry ${fmt(bigBytes, t.ferry)}  rclone ${fmt(bigBytes, t.rclone)}  aws ${fmt(bigBytes, t.aws)}`,
      `ferry/rclone ${(t.rclone / t.ferry).toFixed(2)}×  ferry/aws ${(t.aws / t.ferry).toFixed(2)}×`,
    ]);
  }

  // BENCH_TRANSFER_ONLY=1: step 1 only (the 1 GiB transfers), steps 2 and 3 skipped.
  if (!TRANSFER_ONLY) {
    // 2. ls -l of 10,000 objects (seeded straight into S3, as another tool would).
    seedObjects(rgw, bucket, 'ferry/bench/list10k', 10_000);
    // A fresh rclone for the listing: the first one's VFS listed the home during step 1 and keeps
    // that listing for --dir-cache-time (5 min), so it answers `"/list10k" not found` for a folder
    // seeded since (what stopped this step twice), and would list nothing from S3. Same arguments,
    // another port; cold, as Ferry (which caches no listing).
    const lsPort = await freePort();
    await spawnRclone({
      rgw,
      bucket,
      conf,
      port: lsPort,
      authorizedKeys,
      hostKey,
      children,
      what: 'rclone serve sftp (ls)',
    });
    const lsRows: string[] = [];
    for (const [name, port] of [
      ['ferry', ferryPort],
      ['rclone', lsPort],
    ] as const) {
      const from = logLines(rgw);
      const r = await sftpBatch(port, 'ls -l /list10k\n');
      const lines = r.out.split('\n').filter((l) => l.startsWith('-')).length;
      lsRows.push(
        `${name}: ${r.secs.toFixed(2)} s, ${lines} entries, ${await s3Requests(rgw, bucket, from)}`,
      );
    }
    rows.push(['ls -l 10,000 objects', lsRows.join('  |  '), '']);

    // 3. Peak RSS of ferry serve with N concurrent uploads.
    const rss = watchRss(ferry.pid!, 50);
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: UPLOADS }, (_, i) => sftpBatch(ferryPort, `put ${small} /par-${i}.bin\n`)),
    );
    const secs = (performance.now() - t0) / 1000;
    const { sampled: peak, hwm } = rss.stop();
    const budget = Number.parseInt(process.env.FERRY_BUFFER_BUDGET ?? '', 10) || 256 * MiB;
    rows.push([
      `${UPLOADS} × ${UPLOAD_MB} MB uploads`,
      `ferry RSS before ${(rss.before / MiB).toFixed(0)} MiB, peak ${(Math.max(peak, hwm) / MiB).toFixed(0)} MiB (sampled ${(peak / MiB).toFixed(0)}, VmHWM ${(hwm / MiB).toFixed(0)})`,
      `budget ${(budget / MiB).toFixed(0)} MiB; ${fmt(UPLOADS * UPLOAD_MB * 1e6, secs)} MiB/s total`,
    ]);
  }

  console.log(`load average after: ${load()}`);
  console.log('| work | figures | ratios / budget |\n|---|---|---|');
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);
}

await withRgwBench('sftp', main);
