/**
 * The SSH bench set-up shared by bench/sftp.ts, bench/sftp-ls.ts, bench/sftp-memory.ts,
 * bench/ssh-ceiling.ts and bench/ssh-login.ts (as bench/lib.sh is for the shell benches): the RGW
 * from RGW_BASE's rgw.env, keys and OpenSSH options, `ferry serve` (its own process on S3, or
 * in-process on a local folder) with the user `bench`, `rclone serve sftp`, `sftp -b` batches with
 * timing, RGW's access log, /proc memory, and the clean-up (bucket, gc, work folder).
 */
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { createServer } from 'node:net';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import type { Actor } from '../src/accounts/types.js';
import type { startServer } from '../src/server/serve.js';

export const MiB = 1024 * 1024;

/** The load average, three figures. */
export const load = (): string =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

/** The median of `xs` (the upper one for an even count). */
export const median = (xs: number[]): number =>
  [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

export interface Rgw {
  base: string;
  /** rgw.env's variables. */
  env: Record<string, string>;
  endpoint: string;
  ak: string;
  sk: string;
  accessLog: string;
  /** This process's environment with RGW's keys, without what would send the SDK or CLI elsewhere. */
  childEnv: NodeJS.ProcessEnv;
}

/** The RGW to measure against: RGW_BASE (default /tmp/ferry-rgw-dev), its rgw.env. */
export function rgwFromEnv(): Rgw {
  const base = process.env.RGW_BASE ?? '/tmp/ferry-rgw-dev';
  const env = Object.fromEntries(
    [...readFileSync(join(base, 'rgw.env'), 'utf8').matchAll(/^export (\w+)=(.*)$/gm)].map((m) => [
      m[1]!,
      m[2]!.replace(/^['"]|['"]$/g, ''),
    ]),
  );
  const ak = env.AWS_ACCESS_KEY_ID!;
  const sk = env.AWS_SECRET_ACCESS_KEY!;
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
  return {
    base,
    env,
    endpoint: env.S3_ENDPOINT!,
    ak,
    sk,
    accessLog: join(base, 'cluster/log/ceph-client.rgw.a.log'),
    childEnv,
  };
}

/** A command's stdout (throws on a non-zero exit). */
export function sh(rgw: Rgw, cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { env: rgw.childEnv, encoding: 'utf8', maxBuffer: 256 * MiB });
}

export interface Timed {
  secs: number;
  out: string;
  err: string;
  code: number | null;
}

/** Run a command to its end: seconds taken, stdout, stderr, exit code (never rejects). */
export function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<Timed> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code) => resolve({ secs: (performance.now() - t0) / 1000, out, err, code }));
  });
}

/** As timed, failing loudly on a non-zero exit. */
export async function timedOk(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<Timed> {
  const r = await timed(cmd, args, env);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}: ${r.err.slice(-2000)}`);
  return r;
}

/** A file of `bytes` random bytes, written a MiB at a time (each MiB numbered, so none repeats). */
export function writeRandom(path: string, bytes: number): void {
  const fd = openSync(path, 'w');
  const chunk = randomBytes(MiB);
  for (let at = 0, i = 0; at < bytes; at += MiB, i++) {
    chunk.writeUInt32LE(i, 0);
    writeSync(fd, chunk, 0, Math.min(MiB, bytes - at));
  }
  closeSync(fd);
}

/** Wait until a child prints (stdout or stderr) text matching `re`; the match. */
export function waitFor(
  child: ChildProcess,
  re: RegExp,
  what: string,
  timeoutMs = 60_000,
): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(
      () => reject(new Error(`${what} did not start: ${seen.slice(-2000)}`)),
      timeoutMs,
    );
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

/** A TCP port free on 127.0.0.1 right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** A new ed25519 key pair without a passphrase at `path` (and `path`.pub). */
export function keygen(path: string): string {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path]);
  return path;
}

/** OpenSSH options for a bench: no host key checks, no prompts, quiet, this client key. */
export function sshOptions(keyPath: string): string[] {
  const options = [
    'StrictHostKeyChecking=no',
    'UserKnownHostsFile=/dev/null',
    'BatchMode=yes',
    'LogLevel=ERROR',
  ];
  return [...options.flatMap((o) => ['-o', o]), '-i', keyPath];
}

/** An `sftp -b <file>` batch as bench@127.0.0.1:port, timed (the batch is written under `work`). */
export function sftpBatch(
  work: string,
  ssh: string[],
  port: number,
  batch: string,
  env: NodeJS.ProcessEnv,
): Promise<Timed> {
  const file = join(work, `batch-${randomBytes(4).toString('hex')}`);
  writeFileSync(file, batch);
  return timed('sftp', [...ssh, '-P', String(port), '-b', file, 'bench@127.0.0.1'], env);
}

/** As sftpBatch, failing loudly on a non-zero exit. */
export async function sftpBatchOk(...args: Parameters<typeof sftpBatch>): Promise<Timed> {
  const r = await sftpBatch(...args);
  if (r.code !== 0)
    throw new Error(`sftp -P ${args[2]} -b: ${args[3].trim()} exited ${r.code}: ${r.err.slice(-2000)}`);
  return r;
}

/** An `sftp -b -` batch (on stdin) as bench@127.0.0.1:port run in `cwd`; rejects on a non-zero exit. */
export function sftpStdin(ssh: string[], port: number, commands: string, cwd: string): Promise<void> {
  const child = execFile('sftp', [...ssh, '-P', String(port), '-b', '-', 'bench@127.0.0.1'], { cwd });
  let err = '';
  child.stderr?.on('data', (d) => (err += d));
  child.stdin?.end(commands);
  return new Promise<void>((resolve, reject) =>
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`sftp exited ${code}: ${err}`)))),
  );
}

/** The S3 URL `ferry serve --storage` takes for s3://bucket/ferry on this RGW (keys inside). */
export function ferryStorage(rgw: Rgw, bucket: string): string {
  return `s3+http://${encodeURIComponent(rgw.ak)}:${encodeURIComponent(rgw.sk)}@${rgw.endpoint.replace(/^https?:\/\//, '')}/${bucket}/ferry`;
}

/**
 * `node [nodeArgs] bin/ferry.js serve` as its own process, homes under s3://bucket/ferry/<user>/,
 * SFTP on 127.0.0.1:port; waits for it to listen, then adds the user `bench` with `keyPath`.pub.
 */
export async function spawnFerry(options: {
  rgw: Rgw;
  bucket: string;
  data: string;
  port: number;
  keyPath: string;
  nodeArgs?: string[];
  env?: NodeJS.ProcessEnv;
  /** The child is added here as soon as it starts (so a failed start is cleaned up too). */
  children: ChildProcess[];
  /** How long it may take to listen (default 60 s). */
  timeoutMs?: number;
  /** A folder holding another build (bin/, dist/, package.json, node_modules): default this one. */
  root?: string;
}): Promise<ChildProcess> {
  const { rgw, data, port } = options;
  const cli = options.root ? join(options.root, 'bin/ferry.js') : 'bin/ferry.js';
  const ferry = spawn(
    'node',
    [
      ...(options.nodeArgs ?? []),
      cli,
      'serve',
      '--data',
      data,
      '--storage',
      ferryStorage(rgw, options.bucket),
      '--http',
      '127.0.0.1:0',
      '--sftp',
      `127.0.0.1:${port}`,
      '--log-level',
      'warn',
    ],
    {
      env: { ...rgw.childEnv, FERRY_ADMIN_PASSWORD: 'bench-admin-password', ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  options.children.push(ferry);
  await waitFor(ferry, /sftp: listening on sftp:\/\/\S+/, 'ferry serve', options.timeoutMs);
  sh(rgw, 'node', [
    cli,
    'user',
    'add',
    'bench',
    '--data',
    data,
    '--password',
    'bench-password-123',
    '--ssh-key',
    `${options.keyPath}.pub`,
  ]);
  return ferry;
}

/** rclone.conf (remote `s3b`) for this RGW, written under `work`; its path. */
export function rcloneConf(rgw: Rgw, work: string): string {
  const path = join(work, 'rclone.conf');
  writeFileSync(
    path,
    `[s3b]\ntype = s3\nprovider = Minio\nendpoint = ${rgw.endpoint}\naccess_key_id = ${rgw.ak}\nsecret_access_key = ${rgw.sk}\nregion = us-east-1\nforce_path_style = true\nlist_version = 2\n`,
  );
  return path;
}

/**
 * `rclone serve sftp` of s3b:bucket/ferry/bench (the recipe in ../shared/reference/peers.md) on
 * 127.0.0.1:port, user bench with `authorizedKeys`, host key `hostKey`; waits for it to listen.
 */
export async function spawnRclone(options: {
  rgw: Rgw;
  bucket: string;
  conf: string;
  port: number;
  authorizedKeys: string;
  hostKey: string;
  what?: string;
  /** The child is added here as soon as it starts (so a failed start is cleaned up too). */
  children: ChildProcess[];
  /** How long it may take to listen (default 60 s). */
  timeoutMs?: number;
}): Promise<ChildProcess> {
  const child = spawn(
    'rclone',
    [
      'serve',
      'sftp',
      `s3b:${options.bucket}/ferry/bench`,
      '--config',
      options.conf,
      '--addr',
      `127.0.0.1:${options.port}`,
      '--user',
      'bench',
      '--authorized-keys',
      options.authorizedKeys,
      '--key',
      options.hostKey,
      '--vfs-cache-mode',
      'off',
      '--use-server-modtime',
    ],
    { env: options.rgw.childEnv, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  options.children.push(child);
  await waitFor(
    child,
    /SFTP server listening on|Serving on|listening/i,
    options.what ?? 'rclone serve sftp',
    options.timeoutMs,
  );
  return child;
}

/** Lines in RGW's access log now. */
export function logLines(rgw: Rgw): number {
  return existsSync(rgw.accessLog) ? readFileSync(rgw.accessLog, 'utf8').split('\n').length - 1 : 0;
}

/** The bucket's requests in RGW's access log after line `from`: LIST / HEAD / GET / other. */
export async function s3Requests(rgw: Rgw, bucket: string, from: number): Promise<string> {
  await new Promise((r) => setTimeout(r, 1500)); // the log is written asynchronously
  const lines = readFileSync(rgw.accessLog, 'utf8').split('\n').slice(from);
  // HEADBUCKET: the storage pool's bucket check (at most one per 30 s per storage), not the listing's.
  const n = { LIST: 0, HEAD: 0, HEADBUCKET: 0, GET: 0, other: 0 };
  for (const l of lines) {
    if (!l.includes('beast:') || !l.includes(` /${bucket}`)) continue;
    const m = /"(GET|HEAD|PUT|POST|DELETE) (\S+)/.exec(l);
    if (!m) continue;
    if (m[1] === 'GET' && /[?&](list-type|prefix|delimiter)=/.test(m[2]!)) n.LIST++;
    else if (m[1] === 'HEAD' && m[2] === `/${bucket}/`) n.HEADBUCKET++;
    else if (m[1] === 'HEAD') n.HEAD++;
    else if (m[1] === 'GET') n.GET++;
    else n.other++;
  }
  return `LIST=${n.LIST} HEAD=${n.HEAD} HEADBUCKET=${n.HEADBUCKET} GET=${n.GET} other=${n.other}`;
}

/** A process's resident memory now (VmRSS) and its high-water mark (VmHWM), bytes. */
export function rssOf(pid: number): { rss: number; hwm: number } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)?.[1] ?? 0) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

/**
 * The end of an S3 bench: stop the children, delete the bucket, run RGW's garbage collector
 * (`cephConf`, when known: RGW frees deleted data only then) and remove the work folder.
 */
export function cleanupRgw(options: {
  rgw: Rgw;
  bucket: string;
  children: ChildProcess[];
  work: string;
  cephConf?: string | undefined;
}): void {
  for (const c of options.children) if (c.exitCode === null) c.kill('SIGTERM');
  try {
    sh(options.rgw, 'aws', [
      '--endpoint-url',
      options.rgw.endpoint,
      's3',
      'rb',
      `s3://${options.bucket}`,
      '--force',
    ]);
  } catch (err) {
    console.error(`cleanup: ${(err as Error).message.slice(0, 300)}`);
  }
  if (options.cephConf) {
    try {
      execFileSync(
        'timeout',
        ['300', 'radosgw-admin', '-c', options.cephConf, 'gc', 'process', '--include-all'],
        { stdio: 'ignore' },
      );
    } catch {}
  }
  rmSync(options.work, { recursive: true, force: true });
}

/**
 * `ferry serve` in this process on a local folder (homes in dir/homes, SQLite store in dir/data),
 * SSH on a free loopback port, with the user `bench` (password `password`, key `keyPath`.pub).
 */
export async function startLocalFerry(
  dir: string,
  keyPath: string,
  options: { password?: string; env?: Record<string, string> } = {},
): Promise<{ server: Awaited<ReturnType<typeof startServer>>; port: number }> {
  // Imported here: the benches that spawn `ferry serve` do not load the server into their process.
  const { loadServerConfig } = await import('../src/server/config.js');
  const { startServer } = await import('../src/server/serve.js');
  const env = { FERRY_ADMIN_PASSWORD: 'bench-admin-password', FERRY_LOG_LEVEL: 'warn', ...options.env };
  const config = loadServerConfig(
    { data: join(dir, 'data'), http: '127.0.0.1:0', sftp: '127.0.0.1:0', storage: join(dir, 'homes') },
    env,
    dir,
  );
  const server = await startServer(config, { env });
  const port = Number(server.listeners.find((l) => l.protocol === 'sftp')?.url.split(':')[2]);
  const actor: Actor = { kind: 'system', name: 'system', role: 'admin' };
  await server.accounts.users.create(
    {
      username: 'bench',
      password: options.password ?? 'bench-user-password',
      sshKeys: [readFileSync(`${keyPath}.pub`, 'utf8').trim()],
    },
    actor,
  );
  return { server, port };
}
