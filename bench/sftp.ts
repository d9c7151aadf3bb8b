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
import { join } from 'node:path';

const GiB = Number(process.argv[2] ?? 1);
const UPLOADS = Number(process.argv[3] ?? 20);
const UPLOAD_MB = Number(process.argv[4] ?? 200);
const MiB = 1024 * 1024;
const TRANSFER_ONLY = process.env.BENCH_TRANSFER_ONLY === '1';

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
const accessLog = join(rgwBase, 'cluster/log/ceph-client.rgw.a.log');
const childEnv: NodeJS.ProcessEnv = {
  ...process.env,
  AWS_ACCESS_KEY_ID: ak,
  AWS_SECRET_ACCESS_KEY: sk,
  AWS_REGION: 'us-east-1',
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
};
delete childEnv.AWS_CA_BUNDLE;
delete childEnv.AWS_ENDPOINT_URL;
delete childEnv.AWS_PROFILE;

const work = mkdtempSync(join(tmpdir(), 'ferry-bench-sftp-'));
const bucket = `bench-sftp-${Date.now().toString(36)}`;
const children: ChildProcess[] = [];

function sh(cmd: string, args: string[], opts: { input?: string } = {}): string {
  return execFileSync(cmd, args, { env: childEnv, encoding: 'utf8', maxBuffer: 256 * MiB, ...opts });
}

/** Run a command to its end; seconds taken and its stdout. Fails loudly on a non-zero exit. */
function timed(cmd: string, args: string[]): Promise<{ secs: number; out: string }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${err.slice(-2000)}`));
      else resolve({ secs: (performance.now() - t0) / 1000, out });
    });
  });
}

function writeRandom(path: string, mib: number): void {
  const fd = openSync(path, 'w');
  const chunk = randomBytes(MiB);
  for (let i = 0; i < mib; i++) {
    chunk.writeUInt32LE(i, 0);
    writeSync(fd, chunk);
  }
  closeSync(fd);
}

/** Wait until a child prints a line matching `re`; the match. */
function waitFor(child: ChildProcess, re: RegExp, what: string): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`${what} did not start: ${seen.slice(-2000)}`)), 60_000);
    const on = (d: Buffer) => {
      seen += d;
      const m = re.exec(seen);
      if (m) {
        clearTimeout(timer);
        resolve(m);
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

function logLines(): number {
  return existsSync(accessLog) ? readFileSync(accessLog, 'utf8').split('\n').length - 1 : 0;
}

/** This bucket's requests logged after line `from`: LIST / HEAD / GET / other. */
async function s3Requests(from: number): Promise<string> {
  await new Promise((r) => setTimeout(r, 1500)); // the log is written asynchronously
  const lines = readFileSync(accessLog, 'utf8').split('\n').slice(from);
  const n = { LIST: 0, HEAD: 0, GET: 0, other: 0 };
  for (const l of lines) {
    if (!l.includes('beast:') || !l.includes(` /${bucket}`)) continue;
    const m = /"(GET|HEAD|PUT|POST|DELETE) (\S+)/.exec(l);
    if (!m) continue;
    if (m[1] === 'GET' && /[?&](list-type|prefix|delimiter)=/.test(m[2]!)) n.LIST++;
    else if (m[1] === 'HEAD') n.HEAD++;
    else if (m[1] === 'GET') n.GET++;
    else n.other++;
  }
  return `LIST=${n.LIST} HEAD=${n.HEAD} GET=${n.GET} other=${n.other}`;
}

function rssOf(pid: number): { rss: number; hwm: number } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)?.[1] ?? 0) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

const fmt = (bytes: number, secs: number) => (bytes / MiB / secs).toFixed(1);

async function main(): Promise<void> {
  console.log(
    `# bench/sftp.ts ${new Date().toISOString()}  load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  sh('aws', ['--endpoint-url', endpoint, 's3', 'mb', `s3://${bucket}`]);

  // Keys, the test files.
  const key = join(work, 'clientkey');
  sh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
  sh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(work, 'hostkey')]);
  writeFileSync(join(work, 'authorized_keys'), readFileSync(`${key}.pub`));
  const big = join(work, 'big.bin');
  writeRandom(big, GiB * 1024);
  const small = join(work, 'upload.bin');
  writeRandom(small, Math.round((UPLOAD_MB * 1e6) / MiB));
  const bigBytes = GiB * 1024 * MiB;

  // Ferry: its own process, homes under s3://bucket/ferry/<user>/.
  const ferryPort = await freePort();
  const storage = `s3+http://${encodeURIComponent(ak)}:${encodeURIComponent(sk)}@${endpoint.replace(/^https?:\/\//, '')}/${bucket}/ferry`;
  const data = join(work, 'data');
  const ferry = spawn(
    'node',
    [
      'bin/ferry.js',
      'serve',
      '--data',
      data,
      '--storage',
      storage,
      '--http',
      '127.0.0.1:0',
      '--sftp',
      `127.0.0.1:${ferryPort}`,
      '--log-level',
      'warn',
    ],
    { env: { ...childEnv, FERRY_ADMIN_PASSWORD: 'bench-admin-password' }, stdio: ['ignore', 'pipe', 'pipe'] },
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

  // rclone serve sftp on the same user folder (so both list the same 10,000 objects).
  const rcloneConf = join(work, 'rclone.conf');
  writeFileSync(
    rcloneConf,
    `[s3b]\ntype = s3\nprovider = Minio\nendpoint = ${endpoint}\naccess_key_id = ${ak}\nsecret_access_key = ${sk}\nregion = us-east-1\nforce_path_style = true\nlist_version = 2\n`,
  );
  const rclonePort = await freePort();
  const rclone = spawn(
    'rclone',
    [
      'serve',
      'sftp',
      `s3b:${bucket}/ferry/bench`,
      '--config',
      rcloneConf,
      '--addr',
      `127.0.0.1:${rclonePort}`,
      '--user',
      'bench',
      '--authorized-keys',
      join(work, 'authorized_keys'),
      '--key',
      join(work, 'hostkey'),
      '--vfs-cache-mode',
      'off',
      '--use-server-modtime',
    ],
    { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  children.push(rclone);
  await waitFor(rclone, /SFTP server listening on|Serving on|listening/i, 'rclone serve sftp');

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
  const sftpBatch = (port: number, batch: string) => {
    const file = join(work, `batch-${randomBytes(4).toString('hex')}`);
    writeFileSync(file, batch);
    return timed('sftp', [...ssh, '-P', String(port), '-b', file, 'bench@127.0.0.1']);
  };

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
    aws: (
      await timed('aws', [
        '--endpoint-url',
        endpoint,
        's3',
        'cp',
        '--quiet',
        big,
        `s3://${bucket}/aws/big.bin`,
      ])
    ).secs,
  };
  const out = join(work, 'down.bin');
  const down = {
    ferry: (await sftpBatch(ferryPort, `get /big-ferry.bin ${out}\n`)).secs,
    rclone: (await sftpBatch(rclonePort, `get /big-rclone.bin ${out}\n`)).secs,
    aws: (
      await timed('aws', [
        '--endpoint-url',
        endpoint,
        's3',
        'cp',
        '--quiet',
        `s3://${bucket}/aws/big.bin`,
        out,
      ])
    ).secs,
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
    execFileSync('npx', ['tsx', 'bench/seed-objects.ts', bucket, 'ferry/bench/list10k', '10000'], {
      env: { ...childEnv, AWS_ENDPOINT_URL: endpoint, S3_ENDPOINT: endpoint },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    // A fresh rclone for the listing: the first one's VFS listed the home during step 1 and keeps
    // that listing for --dir-cache-time (5 min), so it answers `"/list10k" not found` for a folder
    // seeded since (what stopped this step twice), and would list nothing from S3. Same arguments,
    // another port; cold, as Ferry (which caches no listing).
    const lsPort = await freePort();
    const lsRclone = spawn(
      'rclone',
      rclone.spawnargs.slice(1).map((a) => (a === `127.0.0.1:${rclonePort}` ? `127.0.0.1:${lsPort}` : a)),
      { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    children.push(lsRclone);
    await waitFor(lsRclone, /SFTP server listening on|Serving on|listening/i, 'rclone serve sftp (ls)');
    const lsRows: string[] = [];
    for (const [name, port] of [
      ['ferry', ferryPort],
      ['rclone', lsPort],
    ] as const) {
      const from = logLines();
      const r = await sftpBatch(port, 'ls -l /list10k\n');
      const lines = r.out.split('\n').filter((l) => l.startsWith('-')).length;
      lsRows.push(`${name}: ${r.secs.toFixed(2)} s, ${lines} entries, ${await s3Requests(from)}`);
    }
    rows.push(['ls -l 10,000 objects', lsRows.join('  |  '), '']);

    // 3. Peak RSS of ferry serve with N concurrent uploads.
    const pid = ferry.pid!;
    const before = rssOf(pid).rss;
    writeFileSync(`/proc/${pid}/clear_refs`, '5'); // resets VmHWM to the current RSS
    let peak = before;
    const sampler = setInterval(() => {
      try {
        peak = Math.max(peak, rssOf(pid).rss);
      } catch {}
    }, 50);
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: UPLOADS }, (_, i) => sftpBatch(ferryPort, `put ${small} /par-${i}.bin\n`)),
    );
    const secs = (performance.now() - t0) / 1000;
    clearInterval(sampler);
    const hwm = rssOf(pid).hwm;
    const budget = Number.parseInt(process.env.FERRY_BUFFER_BUDGET ?? '', 10) || 256 * MiB;
    rows.push([
      `${UPLOADS} × ${UPLOAD_MB} MB uploads`,
      `ferry RSS before ${(before / MiB).toFixed(0)} MiB, peak ${(Math.max(peak, hwm) / MiB).toFixed(0)} MiB (sampled ${(peak / MiB).toFixed(0)}, VmHWM ${(hwm / MiB).toFixed(0)})`,
      `budget ${(budget / MiB).toFixed(0)} MiB; ${fmt(UPLOADS * UPLOAD_MB * 1e6, secs)} MiB/s total`,
    ]);
  }

  console.log(
    `load average after: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  console.log('| work | figures | ratios / budget |\n|---|---|---|');
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);
}

async function cleanup(): Promise<void> {
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  try {
    sh('aws', ['--endpoint-url', endpoint, 's3', 'rb', `s3://${bucket}`, '--force']);
  } catch (err) {
    console.error(`cleanup: ${(err as Error).message.slice(0, 300)}`);
  }
  // RGW frees deleted data only when its garbage collector runs: collect it now.
  const conf = process.env.RGW_CEPH_CONF ?? env.CEPH_CONF;
  if (conf) {
    try {
      execFileSync('timeout', ['300', 'radosgw-admin', '-c', conf, 'gc', 'process', '--include-all'], {
        stdio: 'ignore',
      });
    } catch {}
  }
  rmSync(work, { recursive: true, force: true });
}

try {
  await main();
} finally {
  await cleanup();
}
