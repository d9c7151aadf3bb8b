import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Server, utils } from 'ssh2';
import { permissionNames } from '../../src/accounts/model.js';
import type { EffectiveUser } from '../../src/accounts/types.js';
import { splitCommandLine } from '../../src/protocols/sftp/command-line.js';
import { hashCommands, runHashCommand } from '../../src/protocols/sftp/exec.js';
import { runScp } from '../../src/protocols/sftp/scp.js';
import { serveSftp } from '../../src/protocols/sftp/sftp.js';
import { defaultSftpOptions } from '../../src/protocols/sftp/types.js';
import { createS3Client } from '../../src/s3/client.js';
import type { S3Connection } from '../../src/s3/connection.js';
import { poolFor, sessionFor, tempStore, userWith } from '../session/support.js';
import { ensureBucket, testConnection } from '../support/s3.js';

/**
 * A throw-away SSH server for the SCP tests until the ssh helper's server (server.ts) lands: ssh2
 * with one ed25519 host key, public-key login of one key, exec routed to runScp / runHashCommand
 * on a real session over RGW.
 */
export async function startScpServer(perms: EffectiveUser['permissions'] = { '/': [...permissionNames] }) {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-scp-'));
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'host')]);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'key')]);
  const allowed = utils.parseKey(readFileSync(join(dir, 'key.pub')));
  if (allowed instanceof Error) throw allowed;
  const { store } = await tempStore();
  const conn: S3Connection = testConnection();
  const client = createS3Client(conn);
  await ensureBucket(client, conn.bucket);
  const user = userWith({ home: { type: 's3', connection: 'main', prefix: 'home' }, permissions: perms });
  const pool = poolFor({ main: conn });
  const logger = pino({ level: 'silent' });
  const server = new Server({ hostKeys: [readFileSync(join(dir, 'host'))] }, (conn2) => {
    conn2.on('authentication', (ctx) => {
      if (
        ctx.method === 'publickey' &&
        ctx.key.algo === allowed.type &&
        ctx.key.data.equals(allowed.getPublicSSH())
      )
        return ctx.accept();
      ctx.reject(['publickey']);
    });
    conn2.on('ready', () => {
      const { session } = sessionFor(user, { store, pool });
      conn2.on('close', () => void session.close());
      conn2.on('session', (accept) => {
        const s = accept();
        s.on('sftp', (acceptSftp) => {
          serveSftp({ session, logger, options: defaultSftpOptions }, acceptSftp());
        });
        s.on('exec', (acceptExec, _reject, info) => {
          const channel = acceptExec();
          let argv: string[];
          try {
            argv = splitCommandLine(info.command);
          } catch (err) {
            channel.stderr.write(`${(err as Error).message}\n`);
            channel.exit(127);
            channel.end();
            return;
          }
          const run =
            argv[0] === 'scp' ? runScp : hashCommands.includes(argv[0] ?? '') ? runHashCommand : undefined;
          if (!run) {
            channel.stderr.write('not allowed\n');
            channel.exit(127);
            channel.end();
            return;
          }
          void run({ session, logger, options: defaultSftpOptions }, argv, channel).then((code) => {
            channel.exit(code);
            channel.end();
          });
        });
      });
    });
    conn2.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  server.on('connection', () => {});
  const port = (server.address() as AddressInfo).port;
  const sshArgs = [
    '-P',
    String(port),
    '-o',
    'StrictHostKeyChecking=no',
    '-o',
    'UserKnownHostsFile=/dev/null',
    '-o',
    'BatchMode=yes',
    '-o',
    'LogLevel=ERROR',
    '-i',
    join(dir, 'key'),
  ];
  return {
    port,
    dir,
    conn,
    client,
    /** scp options for this server (`-P port`, the key, no host key checks). */
    scpArgs: sshArgs,
    sshArgs: sshArgs.map((a) => (a === '-P' ? '-p' : a)),
    /** The S3 key prefix of the user's home. */
    homePrefix: `${conn.prefix}/home`,
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      client.destroy();
      await store.close();
    },
  };
}
