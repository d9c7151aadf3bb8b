import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClientChannel } from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HomeInS3, p, type SftpTestServer, sftpBatch, sftpClient, startSftpServer } from '../support/sftp.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

const SSH_FXP_INIT = 1;
const SSH_FXP_OPEN = 3;
const SSH_FXP_READ = 5;
const SSH_FXP_VERSION = 2;
const SSH_FXP_HANDLE = 102;
const SSH_FXP_DATA = 103;

/**
 * SFTP spoken by hand, so that a test can send requests without reading the replies (no client
 * library lets its reader stop while it keeps sending).
 */
class RawSftp {
  private buf: Buffer = Buffer.alloc(0);
  private readonly waiting: ((packet: Buffer) => void)[] = [];
  private readonly packets: Buffer[] = [];
  constructor(readonly ch: ClientChannel) {
    ch.on('data', (d: Buffer) => {
      this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
      while (this.buf.length >= 4 && this.buf.length >= 4 + this.buf.readUInt32BE(0)) {
        const packet = this.buf.subarray(4, 4 + this.buf.readUInt32BE(0));
        this.buf = this.buf.subarray(4 + packet.length);
        const w = this.waiting.shift();
        if (w) w(packet);
        else this.packets.push(packet);
      }
    });
  }
  packet(type: number, ...fields: Buffer[]): Buffer {
    const body = Buffer.concat([Buffer.from([type]), ...fields]);
    return Buffer.concat([u32(body.length), body]);
  }
  send(type: number, ...fields: Buffer[]): void {
    this.ch.write(this.packet(type, ...fields));
  }
  next(): Promise<Buffer> {
    const ready = this.packets.shift();
    if (ready) return Promise.resolve(ready);
    return new Promise((resolve) => this.waiting.push(resolve));
  }
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}
function u64(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
}
function str(s: string | Buffer): Buffer {
  const b = typeof s === 'string' ? Buffer.from(s) : s;
  return Buffer.concat([u32(b.length), b]);
}

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
    const ch = await p<ClientChannel>((cb) => c.client.subsys('sftp', cb));
    const raw = new RawSftp(ch);
    raw.send(SSH_FXP_INIT, u32(3));
    expect((await raw.next())[0]).toBe(SSH_FXP_VERSION);
    raw.send(SSH_FXP_OPEN, u32(1), str('/four.bin'), u32(1 /* READ */), u32(0));
    const opened = await raw.next();
    expect(opened[0]).toBe(SSH_FXP_HANDLE);
    const handle = opened.subarray(9, 9 + opened.readUInt32BE(5));

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
      requests.push(raw.packet(SSH_FXP_READ, u32(1000 + i), str(handle), u64(offsetOf(i)), u32(len)));
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
      expect(r[0]).toBe(SSH_FXP_DATA);
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
