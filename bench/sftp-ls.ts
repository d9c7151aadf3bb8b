/**
 * Issue 9's listing goal alone: `ls -l` over OpenSSH `sftp -b` of a folder of COUNT objects, Ferry
 * (`ferry serve` as its own process, home on RGW) vs `rclone serve sftp --use-server-modtime`
 * (recipe in ../shared/reference/peers.md) on the same folder, interleaved rounds: wall time,
 * entries shown, the S3 requests each made (RGW's access log, this run's bucket only), and whether
 * the client-set mtimes show. Half the objects are written through Ferry's SFTP with a client
 * mtime (`put -p`, recorded in the mtime index) only when MTIMES=1; by default all are seeded
 * straight into S3, as another tool would (bench/seed-objects.ts).
 * Ends by deleting the bucket and running `radosgw-admin gc process`.
 *
 * Run: RGW_BASE=/tmp/ferry-rgw-dev npx tsx bench/sftp-ls.ts [COUNT=10000] [ROUNDS=3]
 * (needs `npx tsc -p tsconfig.build.json` first: Ferry runs from bin/ferry.js.)
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';

const COUNT = Number(process.argv[2] ?? 10_000);
const ROUNDS = Number(process.argv[3] ?? 3);
const MiB = 1024 * 1024;

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
delete childEnv.AWS_ENDPOINT_URL_S3;
delete childEnv.AWS_PROFILE;

const work = mkdtempSync(join(tmpdir(), 'ferry-bench-sftp-ls-'));
const bucket = `bench-sftp-ls-${Date.now().toString(36)}`;
const children: ChildProcess[] = [];

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { env: childEnv, encoding: 'utf8', maxBuffer: 256 * MiB });
}

function timed(
  cmd: string,
  args: string[],
): Promise<{ secs: number; out: string; err: string; code: number | null }> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code) => resolve({ secs: (performance.now() - t0) / 1000, out, err, code }));
  });
}

function waitFor(child: ChildProcess, re: RegExp, what: string): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`${what} did not start: ${seen.slice(-2000)}`)), 300_000);
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

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const load = () =>
    loadavg()
      .map((l) => l.toFixed(2))
      .join(' ');
  console.log(`# bench/sftp-ls.ts ${new Date().toISOString()}  ${COUNT} objects  load average ${load()}`);
  sh('aws', ['--endpoint-url', endpoint, 's3', 'mb', `s3://${bucket}`]);
  const key = join(work, 'clientkey');
  sh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
  sh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(work, 'hostkey')]);
  writeFileSync(join(work, 'authorized_keys'), readFileSync(`${key}.pub`));

  const ferryPort = await freePort();
  const storage = `s3+http://${encodeURIComponent(ak)}:${encodeURIComponent(sk)}@${endpoint.replace(/^https?:\/\//, '')}/${bucket}/ferry`;
  const data = join(work, 'data');
  const ferry = spawn(
    'node',
    [
      ...(process.env.BENCH_FERRY_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
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

  const rcloneConf = join(work, 'rclone.conf');
  writeFileSync(
    rcloneConf,
    `[s3b]\ntype = s3\nprovider = Minio\nendpoint = ${endpoint}\naccess_key_id = ${ak}\nsecret_access_key = ${sk}\nregion = us-east-1\nforce_path_style = true\nlist_version = 2\n`,
  );
  // rclone's VFS caches each folder listing for --dir-cache-time (5 min): a server that listed the
  // home before the seeding answers "not found" for the new folder, and a second round would list
  // nothing from S3. Each round gets a fresh rclone, as cold as Ferry (which caches no listing).
  const startRclone = async (): Promise<{ port: number; child: ChildProcess }> => {
    const port = await freePort();
    const child = spawn(
      'rclone',
      [
        'serve',
        'sftp',
        `s3b:${bucket}/ferry/bench`,
        '--config',
        rcloneConf,
        '--addr',
        `127.0.0.1:${port}`,
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
    children.push(child);
    await waitFor(child, /SFTP server listening on|Serving on|listening/i, 'rclone serve sftp');
    return { port, child };
  };

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

  // One file with a client mtime through Ferry (put -p): its line must show 2001.
  const stamped = join(work, 'stamped.txt');
  writeFileSync(stamped, 'stamped\n');
  utimesSync(stamped, new Date('2001-02-03T04:05:06Z'), new Date('2001-02-03T04:05:06Z'));
  execFileSync('npx', ['tsx', 'bench/seed-objects.ts', bucket, 'ferry/bench/list10k', String(COUNT - 1)], {
    env: { ...childEnv, AWS_ENDPOINT_URL: endpoint, S3_ENDPOINT: endpoint },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  if (process.env.BENCH_STAMP !== '0') {
    const put = await sftpBatch(ferryPort, `put -p ${stamped} /list10k/stamped.txt\n`);
    if (put.code !== 0) throw new Error(`put -p: ${put.err}`);
  }

  const secs: Record<string, number[]> = { ferry: [], rclone: [] };
  for (let r = 1; r <= ROUNDS; r++) {
    for (const name of ['ferry', 'rclone'] as const) {
      const rclone = name === 'rclone' ? await startRclone() : undefined;
      const port = rclone?.port ?? ferryPort;
      const from = logLines();
      const res = await sftpBatch(port, 'ls -l /list10k\n');
      if (res.code !== 0) throw new Error(`${name}: sftp exited ${res.code}: ${res.err.slice(-500)}`);
      const lines = res.out.split('\n').filter((l) => l.startsWith('-'));
      const stampLine = lines.find((l) => l.endsWith('stamped.txt')) ?? '';
      rclone?.child.kill('SIGTERM');
      secs[name]!.push(res.secs);
      console.log(
        `round ${r} ${name.padEnd(6)} ${res.secs.toFixed(2)} s  ${lines.length} entries  ${await s3Requests(from)}  stamped: ${stampLine.includes('2001') ? 'client mtime' : 'not the client mtime'}`,
      );
    }
  }
  const f = median(secs.ferry!);
  const c = median(secs.rclone!);
  console.log(
    `median: ferry ${f.toFixed(2)} s, rclone ${c.toFixed(2)} s, ferry/rclone time ${(f / c).toFixed(2)}  (load ${load()})`,
  );
}

async function cleanup(): Promise<void> {
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  try {
    sh('aws', ['--endpoint-url', endpoint, 's3', 'rb', `s3://${bucket}`, '--force']);
  } catch (err) {
    console.error(`cleanup: ${(err as Error).message.slice(0, 300)}`);
  }
  const conf = env.CEPH_CONF;
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
