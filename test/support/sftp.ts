import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ListMultipartUploadsCommand, type S3Client } from '@aws-sdk/client-s3';
import { Client, type ConnectConfig, type SFTPWrapper } from 'ssh2';
import type { UserInput } from '../../src/accounts/model.js';
import type { Actor } from '../../src/accounts/types.js';
import { createS3Client } from '../../src/s3/client.js';
import type { S3Connection } from '../../src/s3/connection.js';
import { loadServerConfig, type ServerFlags } from '../../src/server/config.js';
import { type RunningServer, startServer } from '../../src/server/serve.js';
import { s3Objects } from '../session/support.js';
import { credentialUrl, ensureBucket, TEST_BUCKET, testConnection, testS3 } from './s3.js';

/**
 * The one SSH set-up of the tests (SFTP, SCP, ssh exec): `ferry serve` with SFTP on the test RGW
 * (`startSftpServer`: keys, users), OpenSSH runners (`exec`, `sftpBatch`, `spawnSftp`, `scp`),
 * ssh2 clients (`connectSsh`, `sftpClient`, `p`) and a look behind the server at S3 (`HomeInS3`).
 * The benchmarks have their own (bench/ssh-lib.ts: `ferry serve` as a process, peers).
 */

const run = promisify(execFile);
const SYSTEM: Actor = { kind: 'system', name: 'system', role: 'admin' };

export interface SftpUser {
  username: string;
  password: string;
  /** Private key file (ed25519, no passphrase) whose public key is on the account. */
  keyPath: string;
  publicKey: string;
}

export interface SftpTestServer {
  host: string;
  /** The SSH port `ferry serve` bound (asked for 0). */
  port: number;
  /** `sftp://127.0.0.1:PORT`, as printed at start. */
  url: string;
  httpUrl: string;
  /** The first user (`alice` unless asked otherwise): password and key login both work. */
  user: SftpUser;
  /**
   * OpenSSH options for the first user, no port: `-o StrictHostKeyChecking=no -o
   * UserKnownHostsFile=/dev/null -o BatchMode=yes -o LogLevel=ERROR -i KEY`. Add `-P port` for
   * sftp/scp, `-p port` for ssh (`sftpArgs` / `sshArgs` do).
   */
  sshOptions: string[];
  /** `[...sshOptions, '-P', port]` (sftp, scp). */
  sftpArgs: string[];
  /** `[...sshOptions, '-p', port]` (ssh). */
  sshArgs: string[];
  /** `alice@127.0.0.1` */
  destination: string;
  /** The test RGW connection; users' homes are `<conn.prefix>/<username>/` in `conn.bucket`. */
  conn: S3Connection;
  /** The key prefix of a user's home in `conn.bucket` (no trailing slash). */
  homePrefix(username: string): string;
  /** The running server: `accounts`, `sessions`, `stop(graceMs)`. */
  server: RunningServer;
  /** Temp folder: data folder `data/`, keys. */
  dir: string;
  /** Every line the server printed at start. */
  said: string[];
  /** Add another user with a password and a fresh key pair (settings as the admin API takes). */
  addUser(username: string, settings?: Partial<UserInput>): Promise<SftpUser>;
  close(): Promise<void>;
}

/**
 * `ferry serve` in this process as the SFTP/SCP tests use it: a fresh data folder (SQLite store),
 * HTTP and SFTP on 127.0.0.1:0, users' homes on the test RGW under a random prefix of
 * `ferry-test`, and one user (`alice`) with a password and an ed25519 key pair. `flags` are
 * `ferry serve` settings as flags (`{ sftp: … }` is the listen address; nested settings through
 * `env`, e.g. `FERRY_SFTP__IDLE_TIMEOUT_SECONDS`).
 */
export async function startSftpServer(
  options: {
    flags?: ServerFlags;
    env?: Record<string, string>;
    user?: Partial<UserInput> & { username?: string };
  } = {},
): Promise<SftpTestServer> {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-sftp-'));
  const conn = testConnection({ prefix: `t-sftp-${randomBytes(4).toString('hex')}` });
  if (options.flags?.storage === undefined) {
    // Homes on the test RGW (with `flags.storage` they are elsewhere: no bucket needed).
    const client = createS3Client(conn);
    await ensureBucket(client, conn.bucket);
    client.destroy();
  }
  const s3 = testS3();
  const env: NodeJS.ProcessEnv = {
    FERRY_ADMIN_PASSWORD: 'test-admin-password',
    FERRY_LOG_LEVEL: 'warn',
    ...options.env,
  };
  const config = loadServerConfig(
    {
      data: join(dir, 'data'),
      http: '127.0.0.1:0',
      sftp: '127.0.0.1:0',
      storage: credentialUrl(
        { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
        `${TEST_BUCKET}/${conn.prefix}`,
      ),
      ...options.flags,
    },
    env,
    dir,
  );
  const said: string[] = [];
  const server = await startServer(config, { say: (l) => said.push(l), env });
  const sftpUrl = server.listeners.find((l) => l.protocol === 'sftp')?.url;
  const httpUrl = server.listeners.find((l) => l.protocol === 'http')?.url as string;
  if (!sftpUrl) {
    await server.stop(0);
    throw new Error('startSftpServer: SFTP is off in these settings');
  }
  const { hostname: host, port } = new URL(sftpUrl.replace(/^sftp:/, 'http:'));

  const addUser = async (username: string, settings: Partial<UserInput> = {}): Promise<SftpUser> => {
    const keyPath = join(dir, `${username}-key`);
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', username, '-f', keyPath]);
    const publicKey = readFileSync(`${keyPath}.pub`, 'utf8').trim();
    const password = `${username}-password-${randomBytes(6).toString('hex')}`;
    await server.accounts.users.create(
      { password, ...settings, username, sshKeys: [publicKey, ...(settings.sshKeys ?? [])] },
      SYSTEM,
    );
    return { username, password, keyPath, publicKey };
  };
  const { username = 'alice', ...userSettings } = options.user ?? {};
  const user = await addUser(username, userSettings);
  const loginOptions = sshOptions(user);
  return {
    host,
    port: Number(port),
    url: sftpUrl,
    httpUrl,
    user,
    sshOptions: loginOptions,
    sftpArgs: [...loginOptions, '-P', port],
    sshArgs: [...loginOptions, '-p', port],
    destination: `${user.username}@${host}`,
    conn,
    homePrefix: (name) => `${conn.prefix}/${name}`,
    server,
    dir,
    said,
    addUser,
    close: () => server.stop(0),
  };
}

/**
 * OpenSSH options logging in as `user` (by key, no host key checks, no prompts), no port: add
 * `-P port` for sftp/scp, `-p port` for ssh.
 */
export function sshOptions(user: Pick<SftpUser, 'keyPath'>): string[] {
  return [
    '-o',
    'StrictHostKeyChecking=no',
    '-o',
    'UserKnownHostsFile=/dev/null',
    '-o',
    'BatchMode=yes',
    '-o',
    'LogLevel=ERROR',
    '-i',
    user.keyPath,
  ];
}

export interface Ran {
  /** The exit code; -1 when killed by a signal, timed out or not started. */
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Run a command (with `input` on its stdin, else none), resolving with its exit code and output.
 * `timeoutMs` (60 s unless given; 0: none) kills it; `started` gets the child (to kill it mid-way).
 */
export function exec(
  cmd: string,
  args: string[],
  options: { timeoutMs?: number; input?: string; cwd?: string; started?: (child: ChildProcess) => void } = {},
): Promise<Ran> {
  return new Promise((resolve) => {
    const child = execFile(
      cmd,
      args,
      { timeout: options.timeoutMs ?? 60_000, maxBuffer: 64 * 1024 * 1024, cwd: options.cwd },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
    options.started?.(child);
    // A command that exits without reading its input (ssh-keyscan, ssh-keygen) makes this write
    // fail with EPIPE: that is not the test's failure, its exit code and output are.
    child.stdin?.on('error', () => {});
    child.stdin?.end(options.input ?? '');
  });
}

/**
 * OpenSSH `sftp -b -` as `user` with `commands` (one a line; a leading `-` lets a command fail
 * without ending the batch, as in sftp(1)). Runs in `cwd` (local files); `extra` are more options.
 */
export function sftpBatch(
  server: SftpTestServer,
  user: SftpUser,
  commands: string[],
  options: { cwd?: string; extra?: string[] } = {},
): Promise<Ran> {
  return exec(
    'sftp',
    [...sftpArgs(server, user), ...(options.extra ?? []), '-b', '-', `${user.username}@${server.host}`],
    { cwd: options.cwd, input: `${commands.join('\n')}\n`, timeoutMs: 240_000 },
  );
}

/** OpenSSH `sftp -b -` as a child process the test can kill mid-transfer (output ignored). */
export function spawnSftp(
  server: SftpTestServer,
  user: SftpUser,
  commands: string[],
  cwd: string,
  extra: string[] = [],
): ChildProcess {
  const child = spawn(
    'sftp',
    [...sftpArgs(server, user), ...extra, '-b', '-', `${user.username}@${server.host}`],
    { cwd, stdio: ['pipe', 'ignore', 'ignore'] },
  );
  child.stdin?.on('error', () => {}); // killed mid-transfer: its unread input may fail with EPIPE
  child.stdin?.end(`${commands.join('\n')}\n`);
  return child;
}

/**
 * OpenSSH `scp` as the first user, `args` after the connection options (`-O` for the legacy
 * protocol; remote paths as `alice@127.0.0.1:/path`, see `server.destination`). No timeout:
 * `started` gets the child to kill it mid-transfer.
 */
export function runScp(
  server: SftpTestServer,
  args: string[],
  options: { started?: (child: ChildProcess) => void } = {},
): Promise<Ran> {
  return exec('scp', [...server.sftpArgs, ...args], { timeoutMs: 0, started: options.started });
}

function sftpArgs(server: SftpTestServer, user: SftpUser): string[] {
  return [...sshOptions(user), '-P', String(server.port)];
}

/**
 * Connect an ssh2 Client: the ready client, or the error as `level: message`. `listen` adds the
 * client's handlers before it connects (`banner`, `keyboard-interactive`, …).
 */
export function connectSsh(
  config: ConnectConfig,
  listen?: (client: Client) => void,
): Promise<{ client: Client } | { error: string }> {
  return new Promise((resolve) => {
    const client = new Client();
    listen?.(client);
    client.on('ready', () => resolve({ client }));
    client.on('error', (err: Error & { level?: string }) =>
      resolve({ error: `${err.level}: ${err.message}` }),
    );
    client.connect({ readyTimeout: 20_000, ...config });
  });
}

/** Poll `check` every 20 ms until it holds or `timeoutMs` passes (the caller then asserts). */
export async function waitFor(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
}

/** An ssh2 SFTP client logged in as `user` by password, for what OpenSSH's sftp cannot drive. */
export async function sftpClient(
  server: SftpTestServer,
  user: SftpUser,
): Promise<{ sftp: SFTPWrapper; client: Client; end(): void }> {
  const client = new Client();
  await new Promise<void>((resolve, reject) => {
    client.on('ready', () => resolve());
    client.on('error', reject);
    client.connect({
      host: server.host,
      port: server.port,
      username: user.username,
      password: user.password,
    });
  });
  const sftp = await new Promise<SFTPWrapper>((resolve, reject) =>
    client.sftp((err, s) => (err ? reject(err) : resolve(s))),
  );
  return { sftp, client, end: () => client.end() };
}

/** Promise form of an ssh2 SFTP client call (`call(cb)`). */
export function p<T = void>(
  call: (cb: (err: Error | null | undefined, value?: T) => void) => void,
): Promise<T> {
  return new Promise((resolve, reject) => call((err, value) => (err ? reject(err) : resolve(value as T))));
}

/** Looks at users' homes in S3 from behind Ferry (a raw client on the test RGW). */
export class HomeInS3 {
  readonly client: S3Client;
  constructor(private readonly server: SftpTestServer) {
    this.client = createS3Client(server.conn);
  }

  /** Keys under the user's home, relative to it, sorted. */
  async keys(username: string): Promise<string[]> {
    const prefix = this.server.homePrefix(username);
    return (await s3Objects(this.client, this.server.conn.bucket, prefix))
      .map((o) => o.key.slice(prefix.length + 1))
      .sort();
  }

  /** Unfinished multipart uploads anywhere under the server's prefix. */
  async multipartUploads(): Promise<number> {
    const r = await this.client.send(
      new ListMultipartUploadsCommand({
        Bucket: this.server.conn.bucket,
        Prefix: `${this.server.conn.prefix}/`,
      }),
    );
    return r.Uploads?.length ?? 0;
  }

  /**
   * Unfinished multipart uploads under the server's prefix once none are left or `timeoutMs` has
   * passed (a client gone mid-upload: the server aborts its upload in the background).
   */
  async multipartUploadsSettled(timeoutMs = 20_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const left = await this.multipartUploads();
      if (left === 0 || Date.now() >= deadline) return left;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** The S3 key of `path` (no leading slash) in the user's home. */
  key(username: string, path: string): string {
    return `${this.server.homePrefix(username)}/${path}`;
  }
}
