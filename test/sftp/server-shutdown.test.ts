import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HeadObjectCommand, ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { createS3Client } from '../../src/s3/client.js';
import { ServeProcess, serverEnv } from '../server/serve-process.js';
import { requireBuiltCli } from '../support/cli.js';
import { startSftpServer, waitFor } from '../support/sftp.js';

describe('ferry serve: the SFTP listener and stopping with SSH clients connected', () => {
  it('prints sftp://HOST:PORT among the listeners; --sftp off prints none; SIGTERM with a client connected exits 0', async () => {
    await requireBuiltCli();
    const dir = mkdtempSync(join(tmpdir(), 'ferry-sftp-serve-'));
    const server = new ServeProcess(['--http', '127.0.0.1:0'], {
      cwd: dir,
      env: serverEnv({ FERRY_ADMIN_PASSWORD: 'first-admin-password', FERRY_SFTP: '127.0.0.1:0' }),
    });
    try {
      const url = await server.sftpUrl();
      expect(url).toMatch(/^sftp:\/\/127\.0\.0\.1:\d+$/);
      const port = Number(url.split(':')[2]);
      // A client connected (in the SSH handshake, saying nothing more): stop must not wait for it.
      const sock = tcpConnect(port, '127.0.0.1');
      sock.on('error', () => {});
      await new Promise((r) => sock.once('data', r));
      server.child.kill('SIGTERM');
      const exit = await server.exited;
      expect(exit.code).toBe(0);
      expect(server.stdout).toContain('stopped');
      sock.destroy();
    } finally {
      await server.close();
    }
    const off = new ServeProcess(['--http', '127.0.0.1:0', '--data', join(dir, 'off-data')], {
      cwd: dir,
      env: serverEnv({ FERRY_ADMIN_PASSWORD: 'first-admin-password', FERRY_SFTP: 'off' }),
    });
    try {
      await off.httpUrl();
      await off.waitFor(/data folder:/);
      expect(off.stdout).not.toContain('sftp:');
    } finally {
      await off.close();
    }
  });

  it('stop with an SFTP upload in flight: the upload is aborted, no object, no multipart upload left', async () => {
    // 1 MB/s for the user: a 24 MB upload is still running when the server stops.
    const s = await startSftpServer({ user: { bandwidth: { uploadBytesPerSecond: 1_000_000 } } });
    const client = createS3Client(s.conn);
    const dir = mkdtempSync(join(tmpdir(), 'ferry-sftp-stop-'));
    writeFileSync(join(dir, 'big.bin'), randomBytes(24 * 1024 * 1024));
    const child = spawn('sftp', [...s.sftpArgs, '-b', '-', s.destination], { cwd: dir });
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    child.stdin.on('error', () => {});
    child.stdin.end('put big.bin /big.bin\n');
    const uploads = async () =>
      (
        await client.send(
          new ListMultipartUploadsCommand({ Bucket: s.conn.bucket, Prefix: `${s.homePrefix('alice')}/` }),
        )
      ).Uploads ?? [];
    try {
      // Running: a multipart upload exists for it.
      let seen = 0;
      for (let i = 0; i < 300 && seen === 0; i++) {
        seen = (await uploads()).length;
        if (seen === 0) await new Promise((r) => setTimeout(r, 100));
      }
      expect(seen, stderr).toBe(1);
      await s.server.stop(0);
      expect(await exited).not.toBe(0);
      expect(await uploads()).toEqual([]);
      const head = await client
        .send(new HeadObjectCommand({ Bucket: s.conn.bucket, Key: `${s.homePrefix('alice')}/big.bin` }))
        .then(
          () => 'exists',
          (err: { name?: string }) => err.name,
        );
      expect(head).toBe('NotFound');
      await waitFor(() => s.server.sessions.active().length === 0);
      expect(s.server.sessions.active()).toHaveLength(0);
    } finally {
      child.kill();
      client.destroy();
      await s.close();
    }
  });
});
