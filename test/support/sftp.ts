import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client, type ConnectConfig } from 'ssh2';
import type { UserInput } from '../../src/accounts/model.js';
import type { Actor } from '../../src/accounts/types.js';
import { createS3Client } from '../../src/s3/client.js';
import type { S3Connection } from '../../src/s3/connection.js';
import { loadServerConfig, type ServerFlags } from '../../src/server/config.js';
import { type RunningServer, startServer } from '../../src/server/serve.js';
import { credentialUrl, ensureBucket, TEST_BUCKET, testConnection, testS3 } from './s3.js';

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
  const sshOptions = [
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
  return {
    host,
    port: Number(port),
    url: sftpUrl,
    httpUrl,
    user,
    sshOptions,
    sftpArgs: [...sshOptions, '-P', port],
    sshArgs: [...sshOptions, '-p', port],
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

/** Run a command (with `input` on its stdin, else none), resolving with its exit code and output. */
export function exec(
  cmd: string,
  args: string[],
  options: { timeoutMs?: number; input?: string; cwd?: string } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
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
    child.stdin?.end(options.input ?? '');
  });
}

/** Connect an ssh2 Client: the ready client, or the error as `level: message`. */
export function connectSsh(config: ConnectConfig): Promise<{ client: Client } | { error: string }> {
  return new Promise((resolve) => {
    const client = new Client();
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
