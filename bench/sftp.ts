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
 * (BENCH_TRANSFER_ONLY=1: the 1 GiB transfers only.)
 * (needs `npx tsc -p tsconfig.build.json` first: Ferry runs from bin/ferry.js.)
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  awsTimed,
  load,
  logLines,
  MiB,
  numberArgs,
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
  await spawnRclone({ rgw, bucket, conf, port: rclonePort, authorizedKeys, hostKey, children });

  const sftpBatch = (port: number, batch: string) => sftpBatchOk(work, ssh, port, batch, rgw.childEnv);

  // 1. 1 GiB up and down.
  const rows: [string, string, string][] = [];
  // Each row is printed as soon as it is measured too (a later step failing keeps the earlier figures).
  const push = rows.push.bind(rows);
  rows.push = (...r: [string, string, string][]) => {
    for (const row of r) console.log(`# ${row.join(' | ')}`);
    return push(...r);
  };
  const up = {
    ferry: (await sftpBatch(ferryPort, `put ${big} /big-ferry.bin\n`)).secs,
    rclone: (await sftpBatch(rclonePort, `put ${big} /big-rclone.bin\n`)).secs,
    aws: (await awsTimed(rgw, ['s3', 'cp', '--quiet', big, `s3://${bucket}/aws/big.bin`])).secs,
  };
  const out = join(work, 'down.bin');
  const down = {
    ferry: (await sftpBatch(ferryPort, `get /big-ferry.bin ${out}\n`)).secs,
    rclone: (await sftpBatch(rclonePort, `get /big-rclone.bin ${out}\n`)).secs,
    aws: (await awsTimed(rgw, ['s3', 'cp', '--quiet', `s3://${bucket}/aws/big.bin`, out])).secs,
  };
  rmSync(out, { force: true });
  for (const [what, t] of [
    ['upload', up],
    ['download', down],
  ] as const) {
    rows.push([
      `${GiB} GiB ${what} MiB/s`,
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
