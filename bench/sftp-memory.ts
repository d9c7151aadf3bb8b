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
 * The RSS is also split by kind of mapping (/proc/PID/smaps: glibc's heap, anonymous mappings,
 * files) before the uploads and at the largest of the samples taken every second.
 * Env: FERRY_BUFFER_BUDGET (passed to Ferry), BENCH_NODE_FLAGS (extra node flags for Ferry,
 * e.g. `--max-semi-space-size=64`), SPEED=0 (skip the 1 GiB step).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  aws,
  awsTimed,
  load,
  MiB,
  numberArgs,
  type RgwRun,
  watchRss,
  withRgwBench,
  writeRandom,
} from './bench-lib.js';
import { clientKey, freePort, sftpBatchOk, spawnFerry } from './ssh-lib.js';

const { UPLOADS, UPLOAD_MB, GIB } = numberArgs({ UPLOADS: 20, UPLOAD_MB: 200, GIB: 1 });
const SPEED = process.env.SPEED !== '0';

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

async function main({ rgw, bucket, work, children }: RgwRun): Promise<void> {
  console.log(`# bench/sftp-memory.ts ${new Date().toISOString()} load ${load()}`);
  const { key, ssh } = clientKey(work);
  const small = join(work, 'upload.bin');
  const smallBytes = UPLOAD_MB * 1e6;
  writeRandom(small, smallBytes);

  const port = await freePort();
  const probeFile = join(work, 'probe.jsonl');
  const nodeFlags = (process.env.BENCH_NODE_FLAGS ?? '').split(/\s+/).filter(Boolean);
  const ferry = await spawnFerry({
    rgw,
    bucket,
    data: join(work, 'data'),
    port,
    keyPath: key,
    nodeArgs: [...nodeFlags, '--import', './bench/mem-probe.mjs'],
    env: { FERRY_MEM_PROBE: probeFile },
    children,
  });
  const put = async (from: string, to: string) =>
    (await sftpBatchOk(work, ssh, port, `put ${from} ${to}\n`, rgw.childEnv)).secs;
  // One small upload first, so the baseline includes what the first transfer loads (SDK, ssh2).
  writeRandom(join(work, 'warm.bin'), MiB);
  await put(join(work, 'warm.bin'), '/warm.bin');
  await new Promise((r) => setTimeout(r, 1500));

  const pid = ferry.pid!;
  const baseMaps = smaps(pid);
  let peakMaps = baseMaps;
  let peakMapsRss = 0;
  const rss = watchRss(pid, 100, (tick) => {
    if (tick % 10 !== 0) return;
    const maps = smaps(pid);
    const total = Object.values(maps).reduce((a, b) => a + b, 0);
    if (total > peakMapsRss) [peakMaps, peakMapsRss] = [maps, total];
  });
  const base = rss.before;
  const t0 = Date.now();
  await Promise.all(Array.from({ length: UPLOADS }, (_, i) => put(small, `/par-${i}.bin`)));
  const secs = (Date.now() - t0) / 1000;
  const { sampled, hwm } = rss.stop();
  await new Promise((r) => setTimeout(r, 300));
  const ps = probes(probeFile, t0);
  const max = (k: keyof Probe) => Math.max(0, ...ps.map((p) => p[k]));
  const budget =
    Number.parseInt(process.env.FERRY_MEMORY_BUDGET_BYTES ?? process.env.FERRY_BUFFER_BUDGET ?? '', 10) ||
    256 * MiB;
  // Every object whole.
  const listing = aws(rgw, ['s3', 'ls', `s3://${bucket}/ferry/bench/`]);
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
    `#   budget ${mib(budget)} (FERRY_MEMORY_BUDGET_BYTES or FERRY_BUFFER_BUDGET), its high-water mark ${mib(max('budgetPeak'))}, held + kept buffers at most ${mib(Math.max(0, ...ps.map((p) => p.budgetHeld + (p.budgetPooled ?? 0))))}`,
  );
  console.log(
    `#   inside (peaks, 100 ms samples): rss ${mib(max('rss'))}, heapUsed ${mib(max('heapUsed'))}, heapTotal ${mib(max('heapTotal'))}, external ${mib(max('external'))}, arrayBuffers ${mib(max('arrayBuffers'))}`,
  );
  const kinds = [...new Set([...Object.keys(baseMaps), ...Object.keys(peakMaps)])];
  console.log(
    `#   where the RSS is (smaps, before → at the largest 1 s sample): ${kinds.map((k) => `${k} ${mib(baseMaps[k] ?? 0)} → ${mib(peakMaps[k] ?? 0)}`).join(', ')}`,
  );
  if (whole !== UPLOADS) throw new Error(`only ${whole} of ${UPLOADS} uploads are whole: ${listing}`);

  if (SPEED) {
    const big = join(work, 'big.bin');
    writeRandom(big, GIB * 1024 * MiB);
    const bytes = GIB * 1024 * MiB;
    const f = await put(big, '/big.bin');
    const a = (await awsTimed(rgw, ['s3', 'cp', '--quiet', big, `s3://${bucket}/aws/big.bin`])).secs;
    const f2 = await put(big, '/big2.bin');
    const r = (s: number) => (bytes / MiB / s).toFixed(1);
    console.log(
      `# ${GIB} GiB upload MiB/s: ferry ${r(f)} / aws ${r(a)} / ferry again ${r(f2)}; ferry/aws ${(a / f).toFixed(2)}× and ${(a / f2).toFixed(2)}×; load ${load()}`,
    );
  }
}

await withRgwBench('mem', main);
