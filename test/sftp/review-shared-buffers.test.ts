import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server, connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SFTPWrapper } from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  p,
  type SftpTestServer,
  type SftpUser,
  sftpBatch,
  sftpClient,
  spawnSftp,
  startSftpServer,
} from '../support/sftp.js';

const MiB = 1024 * 1024;
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/**
 * Review (session 7): the buffers now shared between users' channels — SSH packets of DATA replies
 * (packet-pool.ts, process-wide) and WRITE join buffers (write-packets.ts, process-wide). Two users
 * at once with different bytes, key re-exchanges every 1 MiB and a third client killed mid-get:
 * every object and every download must be exactly its own bytes.
 */
describe('SFTP review: shared packet and join buffers between users', () => {
  let server: SftpTestServer;
  let bob: SftpUser;
  let slow: Server;
  /** The server as seen through `slow`: a TCP relay that reads the server's side in bursts. */
  let viaSlow: SftpTestServer;
  beforeAll(async () => {
    // Local storage: the shared RGW's OSD was full this session (writes hung); the buffers reviewed
    // here are the protocol side's, the same whatever the storage.
    server = await startSftpServer({ flags: { storage: mkdtempSync(join(tmpdir(), 'ferry-rv9-home-')) } });
    bob = await server.addUser('bob');
    // A slow reader: the relay stops reading the server's side for 20 ms after every 256 KiB. On
    // loopback the kernel still took every write at once (writableLength never > 0 at an uncork,
    // measured): premature reuse is caught by packet-pool.test.ts (a TCP pair), not by this test.
    slow = createServer((c) => {
      const up = tcpConnect(server.port, server.host);
      c.pipe(up);
      let n = 0;
      up.on('data', (d: Buffer) => {
        c.write(d);
        n += d.length;
        if (n >= 256 * 1024) {
          n = 0;
          up.pause();
          setTimeout(() => up.resume(), 20);
        }
      });
      up.on('end', () => c.end());
      up.on('error', () => c.destroy());
      c.on('error', () => up.destroy());
      c.on('close', () => up.destroy());
    });
    await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
    viaSlow = { ...server, port: (slow.address() as { port: number }).port };
  });
  afterAll(async () => {
    slow?.close();
    await server?.close();
  });

  it('two users uploading and downloading at once (rekey every 1 MiB, a client killed mid-get): byte-identical, no crossing', async () => {
    const dirs = [mkdtempSync(join(tmpdir(), 'ferry-rv9-a-')), mkdtempSync(join(tmpdir(), 'ferry-rv9-b-'))];
    const users = [server.user, bob];
    const bodies = [randomBytes(24 * MiB + 777), randomBytes(24 * MiB + 4321)];
    for (const [i, d] of dirs.entries()) writeFileSync(join(d, 'up.bin'), bodies[i]!);
    const extra = (cipher: string) => ['-o', 'RekeyLimit=1M', '-c', cipher];
    // Uploads at once (WRITEs of 32 KiB split over SSH packets; join buffers pass between users).
    const puts = await Promise.all(
      users.map((u, i) =>
        sftpBatch(server, u, ['put up.bin f.bin'], {
          cwd: dirs[i],
          extra: extra('chacha20-poly1305@openssh.com'),
        }),
      ),
    );
    for (const put of puts) expect(put.stderr).toBe('');
    // A third client of alice's killed mid-get while both download (a socket destroyed mid-write).
    const killed = spawnSftp(
      server,
      server.user,
      ['get f.bin killed.bin'],
      dirs[0]!,
      extra('chacha20-poly1305@openssh.com'),
    );
    setTimeout(() => killed.kill('SIGKILL'), 300);
    for (const cipher of ['chacha20-poly1305@openssh.com', 'aes128-gcm@openssh.com']) {
      const gets = await Promise.all(
        users.map((u, i) =>
          sftpBatch(i === 0 ? viaSlow : server, u, [`get f.bin ${cipher}.bin`], {
            cwd: dirs[i],
            extra: extra(cipher),
          }),
        ),
      );
      for (const [i, get] of gets.entries()) {
        expect(get.stderr, `${users[i]!.username} ${cipher}`).toBe('');
        expect(sha(readFileSync(join(dirs[i]!, `${cipher}.bin`))), `${users[i]!.username} ${cipher}`).toBe(
          sha(bodies[i]!),
        );
      }
    }
  }, 240_000);

  it('six SFTP channels on one connection through a slow relay while bob downloads: each read byte-identical', async () => {
    const bodies = [randomBytes(12 * 1024 * 1024 + 11), randomBytes(12 * 1024 * 1024 + 99)];
    const a = await sftpClient(server, server.user);
    const b = await sftpClient(server, bob);
    await p((cb) => a.sftp.writeFile('/six.bin', bodies[0]!, cb));
    await p((cb) => b.sftp.writeFile('/six.bin', bodies[1]!, cb));
    b.end();
    a.end();
    const slowA = await sftpClient(viaSlow, server.user);
    const fastB = await sftpClient(server, bob);
    const channels: SFTPWrapper[] = [slowA.sftp];
    for (let i = 0; i < 5; i++)
      channels.push(
        await new Promise<SFTPWrapper>((res, rej) => slowA.client.sftp((e, s) => (e ? rej(e) : res(s)))),
      );
    const reads = channels.map((ch) => p<Buffer>((cb) => ch.readFile('/six.bin', cb)));
    const bobReads = [0, 1, 2].map(() => p<Buffer>((cb) => fastB.sftp.readFile('/six.bin', cb)));
    for (const [i, got] of (await Promise.all(reads)).entries())
      expect(sha(got), `alice channel ${i}`).toBe(sha(bodies[0]!));
    for (const [i, got] of (await Promise.all(bobReads)).entries())
      expect(sha(got), `bob read ${i}`).toBe(sha(bodies[1]!));
    slowA.end();
    fastB.end();
  }, 240_000);
});
