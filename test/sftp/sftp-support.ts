import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { ListMultipartUploadsCommand, type S3Client } from '@aws-sdk/client-s3';
import { Client, type SFTPWrapper } from 'ssh2';
import { createS3Client } from '../../src/s3/client.js';
import { s3Objects } from '../session/support.js';
import type { SftpTestServer, SftpUser } from '../support/sftp.js';

/**
 * Helpers of the SFTP subsystem's tests on the real `ferry serve` (test/support/sftp.ts
 * `startSftpServer`): OpenSSH `sftp -b`, an ssh2 SFTP client, and looks at S3.
 */

function sshOptions(server: SftpTestServer, user: SftpUser): string[] {
  return [
    '-P',
    String(server.port),
    '-i',
    user.keyPath,
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
  server: SftpTestServer,
  user: SftpUser,
  commands: string[],
  options: { cwd?: string; extra?: string[] } = {},
): Promise<BatchResult> {
  return new Promise((resolve) => {
    const child = execFile(
      'sftp',
      [...sshOptions(server, user), ...(options.extra ?? []), '-b', '-', `${user.username}@127.0.0.1`],
      { cwd: options.cwd, maxBuffer: 1 << 26, timeout: 240_000 },
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
  server: SftpTestServer,
  user: SftpUser,
  commands: string[],
  cwd: string,
  extra: string[] = [],
): ChildProcess {
  const child = spawn(
    'sftp',
    [...sshOptions(server, user), ...extra, '-b', '-', `${user.username}@127.0.0.1`],
    {
      cwd,
      stdio: ['pipe', 'ignore', 'ignore'],
    },
  );
  child.stdin?.end(`${commands.join('\n')}\n`);
  return child;
}

/** An ssh2 SFTP client (password login), for what OpenSSH's sftp cannot drive. */
export async function sftpClient(
  server: SftpTestServer,
  user: SftpUser,
): Promise<{ sftp: SFTPWrapper; client: Client; end(): void }> {
  const client = new Client();
  await new Promise<void>((resolve, reject) => {
    client.on('ready', () => resolve());
    client.on('error', reject);
    client.connect({
      host: '127.0.0.1',
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

/** Looks at a user's home in S3 from behind Ferry. */
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

  key(username: string, path: string): string {
    return `${this.server.homePrefix(username)}/${path}`;
  }
}
