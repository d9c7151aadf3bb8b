/**
 * The SSH bench set-up shared by bench/sftp.ts, bench/sftp-ls.ts, bench/sftp-memory.ts,
 * bench/sftp-get-cpu.ts, bench/ssh-ceiling.ts and bench/ssh-login.ts: keys and OpenSSH options,
 * `ferry serve` (its own process on S3, or in-process on a local folder) with the user `bench`,
 * `rclone serve sftp`, `sftp -b` batches with timing. The RGW side (bucket, clean-up, access log,
 * /proc figures, arguments) is bench/bench-lib.ts.
 */
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type { Actor } from '../src/accounts/types.js';
import type { startServer } from '../src/server/serve.js';
import { type Rgw, sh, type Timed, timed } from './bench-lib.js';

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

/** The client's key pair under `work` (clientkey, clientkey.pub) and the OpenSSH options using it. */
export function clientKey(work: string): { key: string; ssh: string[] } {
  const key = keygen(join(work, 'clientkey'));
  return { key, ssh: sshOptions(key) };
}

/** For `rclone serve sftp` (spawnRclone): a host key and an authorized_keys of the client key `key`. */
export function rcloneKeys(work: string, key: string): { hostKey: string; authorizedKeys: string } {
  const hostKey = keygen(join(work, 'hostkey'));
  const authorizedKeys = join(work, 'authorized_keys');
  writeFileSync(authorizedKeys, readFileSync(`${key}.pub`));
  return { hostKey, authorizedKeys };
}

/** OpenSSH options for a bench: no host key checks, no prompts, quiet, this client key (BENCH_CIPHER: `-c`). */
export function sshOptions(keyPath: string): string[] {
  const options = [
    'StrictHostKeyChecking=no',
    'UserKnownHostsFile=/dev/null',
    'BatchMode=yes',
    'LogLevel=ERROR',
  ];
  // BENCH_CIPHER: the client's cipher (OpenSSH picks chacha20-poly1305 first when it is offered).
  const cipher = process.env.BENCH_CIPHER ? ['-c', process.env.BENCH_CIPHER] : [];
  return [...options.flatMap((o) => ['-o', o]), ...cipher, '-i', keyPath];
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
  const args = [...ssh, '-P', String(port), '-b', file, 'bench@127.0.0.1'];
  // BENCH_CLIENT_WRAP: a program run as `<wrap> sftp <args>` instead (perf record, strace -f …).
  const wrap = process.env.BENCH_CLIENT_WRAP;
  return wrap ? timed(wrap, ['sftp', ...args], env) : timed('sftp', args, env);
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
  child.stdin?.on('error', () => {});
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
