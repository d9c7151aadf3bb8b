import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { pino } from 'pino';
import { Client, Server, type SFTPWrapper } from 'ssh2';
import type { EffectiveUser } from '../../src/accounts/types.js';
import type { Store } from '../../src/db/database.js';
import { serveSftp } from '../../src/protocols/sftp/sftp.js';
import { defaultSftpOptions, type SftpOptions } from '../../src/protocols/sftp/types.js';
import { createS3Client } from '../../src/s3/client.js';
import type { S3Connection } from '../../src/s3/connection.js';
import type { Session, SessionEvent } from '../../src/session/types.js';
import { poolFor, sessionFor, tempStore, userWith } from '../session/support.js';
import { ensureBucket, testConnection } from '../support/s3.js';

/**
 * A small SSH server for the SFTP subsystem's tests: ssh2's Server, public-key or password login
 * for hand-made users (test/session/support.ts `sessionFor`: the real session layer, homes on
 * RGW), `serveSftp` on the `sftp` subsystem. The transport itself (host keys in the store, the
 * accounts, PROXY protocol …) is server.ts's and tested there; this one lets a test give a user
 * exactly the permissions it needs.
 */
export interface SftpTestServer {
  port: number;
  /** Private key file OpenSSH logs in with (any user). */
  keyFile: string;
  dir: string;
  conn: S3Connection;
  client: S3Client;
  events: SessionEvent[];
  /** Sessions opened so far (the last one is the newest connection's). */
  sessions: Session[];
  /** The S3 key prefix of `user`'s home. */
  prefix(username: string): string;
  close(): Promise<void>;
}

export const PASSWORD = 'test password';

export async function startSftpServer(
  users: (Partial<EffectiveUser> & { username: string })[],
  options: Partial<SftpOptions> = {},
): Promise<SftpTestServer> {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-sftp-'));
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'host')]);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'client')]);
  const clientPub = readFileSync(join(dir, 'client.pub'), 'utf8').split(' ')[1] ?? '';
  const conn = testConnection();
  const client = createS3Client(conn);
  await ensureBucket(client, conn.bucket);
  const { store } = (await tempStore()) as { store: Store };
  const pool = poolFor({ rgw: conn });
  const byName = new Map(
    users.map((u) => [
      u.username,
      userWith({ home: { type: 's3', connection: 'rgw', prefix: u.username }, ...u }),
    ]),
  );
  const events: SessionEvent[] = [];
  const sessions: Session[] = [];
  const logger = pino({ level: process.env.FERRY_TEST_LOG ?? 'silent' });
  const sftpOptions = { ...defaultSftpOptions, ...options };

  const server = new Server({ hostKeys: [readFileSync(join(dir, 'host'))] }, (sshClient) => {
    let session: Session | undefined;
    sshClient.on('authentication', (ctx) => {
      const user = byName.get(ctx.username);
      const okKey =
        ctx.method === 'publickey' && ctx.key.data.toString('base64') === clientPub && user !== undefined;
      const okPassword = ctx.method === 'password' && ctx.password === PASSWORD && user !== undefined;
      if (!user || !(okKey || okPassword)) return ctx.reject(['publickey', 'password']);
      const made = sessionFor(user, { store, pool });
      made.events.length = 0;
      session = made.session;
      sessions.push(session);
      // The events of every session end up in one list for the test.
      const push = made.events.push.bind(made.events);
      made.events.push = (...e: SessionEvent[]) => {
        events.push(...e);
        return push(...e);
      };
      ctx.accept();
    });
    sshClient.on('ready', () => {
      sshClient.on('session', (accept) => {
        const s = accept();
        s.on('sftp', (acceptSftp) => {
          if (!session) return;
          serveSftp({ session, logger, options: sftpOptions }, acceptSftp());
        });
      });
    });
    sshClient.on('error', () => {});
    sshClient.on('close', () => void session?.close());
  });
  // As server.ts does: without it uploads are ~10× slower.
  (server as unknown as { _srv: import('node:net').Server })._srv.on('connection', (sock) =>
    sock.setNoDelay(true),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    keyFile: join(dir, 'client'),
    dir,
    conn,
    client,
    events,
    sessions,
    prefix: (username) => `${conn.prefix}/${username}`,
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.all(sessions.map((s) => s.close()));
      await store.close();
    },
  };
}

export function sshOptions(server: Pick<SftpTestServer, 'port' | 'keyFile'>): string[] {
  return [
    '-P',
    String(server.port),
    '-i',
    server.keyFile,
    '-o',
    'StrictHostKeyChecking=no',
    '-o',
    'UserKnownHostsFile=/dev/null',
    '-o',
    'BatchMode=yes',
    '-o',
    'LogLevel=ERROR',
  ];
}

export interface BatchResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * OpenSSH `sftp -b -` with `commands` (one a line; a leading `-` lets a command fail without
 * ending the batch, as in sftp(1)). Runs in `cwd` (local files).
 */
export function sftpBatch(
  server: Pick<SftpTestServer, 'port' | 'keyFile'>,
  username: string,
  commands: string[],
  options: { cwd?: string; extra?: string[] } = {},
): Promise<BatchResult> {
  return new Promise((resolve) => {
    const child = execFile(
      'sftp',
      [...sshOptions(server), ...(options.extra ?? []), '-b', '-', `${username}@127.0.0.1`],
      { cwd: options.cwd, maxBuffer: 1 << 26 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
    child.stdin?.end(`${commands.join('\n')}\n`);
  });
}

/** OpenSSH `sftp -b -` as a child process the test can kill mid-transfer. */
export function spawnSftp(
  server: Pick<SftpTestServer, 'port' | 'keyFile'>,
  username: string,
  commands: string[],
  cwd: string,
): ChildProcess {
  const child = spawn('sftp', [...sshOptions(server), '-b', '-', `${username}@127.0.0.1`], {
    cwd,
    stdio: ['pipe', 'ignore', 'ignore'],
  });
  child.stdin?.end(`${commands.join('\n')}\n`);
  return child;
}

/** An ssh2 SFTP client (password login), for what OpenSSH's sftp cannot drive. */
export async function sftpClient(
  server: Pick<SftpTestServer, 'port'>,
  username: string,
): Promise<{ sftp: SFTPWrapper; client: Client; end(): void }> {
  const client = new Client();
  await new Promise<void>((resolve, reject) => {
    client.on('ready', () => resolve());
    client.on('error', reject);
    client.connect({ host: '127.0.0.1', port: server.port, username, password: PASSWORD });
  });
  const sftp = await new Promise<SFTPWrapper>((resolve, reject) =>
    client.sftp((err, s) => (err ? reject(err) : resolve(s))),
  );
  return { sftp, client, end: () => client.end() };
}
