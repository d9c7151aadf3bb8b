/**
 * Issue 9's listing goal alone: `ls -l` over OpenSSH `sftp -b` of a folder of COUNT objects, Ferry
 * (`ferry serve` as its own process, home on RGW) vs `rclone serve sftp --use-server-modtime`
 * (recipe in ../shared/reference/peers.md) on the same folder, interleaved rounds: wall time,
 * server CPU (user + system of the server process during the listing), entries shown, the S3
 * requests each made (RGW's access log, this run's bucket only), and whether
 * the client-set mtimes show. Half the objects are written through Ferry's SFTP with a client
 * mtime (`put -p`, recorded in the mtime index) only when MTIMES=1; by default all are seeded
 * straight into S3, as another tool would (bench/seed-objects.ts).
 * Ends by deleting the bucket and running `radosgw-admin gc process`.
 *
 * Run: RGW_BASE=/tmp/ferry-rgw-dev npx tsx bench/sftp-ls.ts [COUNT=10000] [ROUNDS=3]
 * (needs `npx tsc -p tsconfig.build.json` first: Ferry runs from bin/ferry.js.)
 */
import type { ChildProcess } from 'node:child_process';
import { utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  load,
  logLines,
  median,
  numberArgs,
  procStat,
  type RgwRun,
  s3Requests,
  seedObjects,
  withRgwBench,
} from './bench-lib.js';
import {
  clientKey,
  freePort,
  rcloneConf,
  rcloneKeys,
  sftpBatch,
  spawnFerry,
  spawnRclone,
} from './ssh-lib.js';

const { COUNT, ROUNDS } = numberArgs({ COUNT: 10_000, ROUNDS: 3 });

async function main({ rgw, bucket, work, children }: RgwRun): Promise<void> {
  console.log(`# bench/sftp-ls.ts ${new Date().toISOString()}  ${COUNT} objects  load average ${load()}`);
  const { key, ssh } = clientKey(work);
  const { hostKey, authorizedKeys } = rcloneKeys(work, key);
  const { childEnv } = rgw;

  const ferryPort = await freePort();
  const ferry = await spawnFerry({
    rgw,
    bucket,
    data: join(work, 'data'),
    port: ferryPort,
    keyPath: key,
    nodeArgs: process.env.BENCH_FERRY_NODE_ARGS?.split(' ').filter(Boolean) ?? [],
    children,
    timeoutMs: 300_000,
  });

  const conf = rcloneConf(rgw, work);
  // rclone's VFS caches each folder listing for --dir-cache-time (5 min): a server that listed the
  // home before the seeding answers "not found" for the new folder, and a second round would list
  // nothing from S3. Each round gets a fresh rclone, as cold as Ferry (which caches no listing).
  const startRclone = async (): Promise<{ port: number; child: ChildProcess }> => {
    const port = await freePort();
    const child = await spawnRclone({
      rgw,
      bucket,
      conf,
      port,
      authorizedKeys,
      hostKey,
      children,
      timeoutMs: 300_000,
    });
    return { port, child };
  };

  // One file with a client mtime through Ferry (put -p): its line must show 2001.
  const stamped = join(work, 'stamped.txt');
  writeFileSync(stamped, 'stamped\n');
  utimesSync(stamped, new Date('2001-02-03T04:05:06Z'), new Date('2001-02-03T04:05:06Z'));
  seedObjects(rgw, bucket, 'ferry/bench/list10k', COUNT - 1);
  if (process.env.BENCH_STAMP !== '0') {
    const put = await sftpBatch(work, ssh, ferryPort, `put -p ${stamped} /list10k/stamped.txt\n`, childEnv);
    if (put.code !== 0) throw new Error(`put -p: ${put.err}`);
  }

  const secs: Record<string, number[]> = { ferry: [], rclone: [] };
  const cpus: Record<string, number[]> = { ferry: [], rclone: [] };
  for (let r = 1; r <= ROUNDS; r++) {
    for (const name of ['ferry', 'rclone'] as const) {
      const rclone = name === 'rclone' ? await startRclone() : undefined;
      const port = rclone?.port ?? ferryPort;
      const from = logLines(rgw);
      const pid = (rclone?.child ?? ferry).pid!;
      const cpu0 = procStat(pid).cpuMs;
      const res = await sftpBatch(work, ssh, port, 'ls -l /list10k\n', childEnv);
      const cpu = (procStat(pid).cpuMs - cpu0) / 1000;
      cpus[name]!.push(cpu);
      if (res.code !== 0) throw new Error(`${name}: sftp exited ${res.code}: ${res.err.slice(-500)}`);
      const lines = res.out.split('\n').filter((l) => l.startsWith('-'));
      const stampLine = lines.find((l) => l.endsWith('stamped.txt')) ?? '';
      rclone?.child.kill('SIGTERM');
      secs[name]!.push(res.secs);
      console.log(
        `round ${r} ${name.padEnd(6)} ${res.secs.toFixed(2)} s  server CPU ${cpu.toFixed(2)} s  ${lines.length} entries  ${await s3Requests(rgw, bucket, from)}  stamped: ${stampLine.includes('2001') ? 'client mtime' : 'not the client mtime'}`,
      );
    }
  }
  const f = median(secs.ferry!);
  const c = median(secs.rclone!);
  console.log(
    `median: ferry ${f.toFixed(2)} s, rclone ${c.toFixed(2)} s, ferry/rclone time ${(f / c).toFixed(2)}; server CPU ferry ${median(cpus.ferry!).toFixed(2)} s, rclone ${median(cpus.rclone!).toFixed(2)} s  (load ${load()})`,
  );
}

await withRgwBench('sftp-ls', main);
