import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HomeInS3, p, type SftpTestServer, sftpBatch, sftpClient, startSftpServer } from '../support/sftp.js';
import { OPEN_READ, packet, rawSftp, SSH_FXP, str, u32, u64 } from '../support/sftp-raw.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('SFTP review: the READ path (lent views, replies waiting for the client)', () => {
  let server: SftpTestServer;
  let s3: HomeInS3;
  const body = randomBytes(4 * MiB);

  beforeAll(async () => {
    server = await startSftpServer();
    s3 = new HomeInS3(server);
    const c = await sftpClient(server, server.user);
    await p((cb) => c.sftp.writeFile('/four.bin', body, cb));
    c.end();
  });
  afterAll(async () => {
    await server?.close();
  });

  it('a client that sends READs and reads no reply: the server stops taking requests instead of queueing every reply in memory; all replies right once it reads', async () => {
    const c = await sftpClient(server, server.user);
    const raw = await rawSftp(c.client);
    const ch = raw.ch;
    const handle = await raw.open(1, '/four.bin', OPEN_READ);

    // The client stops reading: what the server sends fills the channel window (2 MiB) and the
    // client's stream buffer (2 MiB), then no more window is granted.
    ch.pause();
    const before = process.memoryUsage().arrayBuffers;
    // 4096 READs of 32 KiB (128 MiB of replies, ~150 KB of requests: well within the 2 MiB window
    // the server grants for requests), each inside the one part of the 4 MiB file.
    const count = 4096;
    const len = 32 * KiB - 13;
    const offsetOf = (i: number) => (i * len) % (body.length - len);
    const requests: Buffer[] = [];
    for (let i = 0; i < count; i++)
      requests.push(packet(SSH_FXP.READ, [u32(1000 + i), str(handle), u64(offsetOf(i)), u32(len)]));
    ch.write(Buffer.concat(requests));
    // Served from the part held in memory, every reply is made at once: before, each waited in
    // ssh2's send queue (a copy of 32 KiB each) for window the client never gave.
    let grown = 0;
    for (let i = 0; i < 100 && grown < 96 * MiB; i++) {
      await new Promise((r) => setTimeout(r, 50));
      grown = process.memoryUsage().arrayBuffers - before;
    }
    expect(grown).toBeLessThan(48 * MiB);

    // Reading again: every reply comes, in order, with the right bytes.
    ch.resume();
    for (let i = 0; i < count; i++) {
      const r = await raw.next();
      expect(r[0]).toBe(SSH_FXP.DATA);
      expect(r.readUInt32BE(1)).toBe(1000 + i);
      const data = r.subarray(9, 9 + r.readUInt32BE(5));
      if (!data.equals(body.subarray(offsetOf(i), offsetOf(i) + len)))
        throw new Error(`READ ${i}: wrong bytes`);
    }
    c.end();
  }, 120_000);

  it('OpenSSH get with a key re-exchange every 256 KiB (replies sent while a KEX runs): byte-identical', async () => {
    const local = mkdtempSync(join(tmpdir(), 'ferry-review-read-'));
    const big = randomBytes(24 * MiB + 12345); // two read parts and a piece
    writeFileSync(join(local, 'up.bin'), big);
    const put = await sftpBatch(server, server.user, ['put up.bin big.bin'], { cwd: local });
    expect(put.stderr).toBe('');
    const get = await sftpBatch(server, server.user, ['get big.bin down.bin'], {
      cwd: local,
      extra: ['-o', 'RekeyLimit=256K'],
    });
    expect(get.stderr).toBe('');
    expect(get.code).toBe(0);
    expect(sha(readFileSync(join(local, 'down.bin')))).toBe(sha(big));
    expect(await s3.multipartUploads()).toBe(0);
  }, 120_000);

  it('OpenSSH get with each cipher Ferry offers (DATA replies in reused packets, packet-pool.ts): byte-identical', async () => {
    const local = mkdtempSync(join(tmpdir(), 'ferry-review-read-'));
    const big = randomBytes(20 * MiB + 4321);
    writeFileSync(join(local, 'up.bin'), big);
    const put = await sftpBatch(server, server.user, ['put up.bin c.bin'], { cwd: local });
    expect(put.stderr).toBe('');
    for (const cipher of ['chacha20-poly1305@openssh.com', 'aes128-gcm@openssh.com', 'aes256-ctr']) {
      const get = await sftpBatch(server, server.user, [`get c.bin ${cipher}.bin`], {
        cwd: local,
        extra: ['-c', cipher],
      });
      expect(get.stderr, cipher).toBe('');
      expect(get.code, cipher).toBe(0);
      expect(sha(readFileSync(join(local, `${cipher}.bin`))), cipher).toBe(sha(big));
    }
  }, 120_000);
});
