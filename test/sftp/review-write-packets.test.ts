import { createHash, randomBytes } from 'node:crypto';
import type { ClientChannel } from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { p, type SftpTestServer, type SftpUser, sftpClient, startSftpServer } from '../support/sftp.js';

/**
 * Attacker's review of the WRITE interceptor (src/protocols/sftp/write-packets.ts): a WRITE whose
 * data does not come in the SSH packet of its head is joined in a buffer of its own. That buffer
 * must be about the size of the WRITE's data, not the largest packet: else a client sending tiny
 * WRITEs split across SSH packets makes the server hold 256 KiB per ~30 bytes of channel window
 * (the window and the budget count the data, not the buffers), thousands of times what it sent.
 */

const SSH_FXP = { INIT: 1, OPEN: 3, CLOSE: 4, WRITE: 6, REALPATH: 16, STATUS: 101, HANDLE: 102, NAME: 104 };
const OPEN_WRITE_CREAT_TRUNC = 0x02 | 0x08 | 0x10;
const KiB = 1024;
const MiB = 1024 * KiB;

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
function packet(type: number, fields: Buffer[]): Buffer {
  const body = Buffer.concat([Buffer.from([type]), ...fields]);
  return Buffer.concat([u32(body.length), body]);
}
function write(id: number, handle: Buffer, offset: number, data: Buffer): Buffer {
  return packet(SSH_FXP.WRITE, [u32(id), str(handle), u64(offset), str(data)]);
}

/** The `sftp` subsystem spoken by hand; replies by request id. */
class RawSftp {
  private buf = Buffer.alloc(0);
  private readonly replies = new Map<number, Buffer>();
  private readonly waiting = new Map<number, (p: Buffer) => void>();
  constructor(readonly ch: ClientChannel) {
    ch.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      while (this.buf.length >= 4 && this.buf.length >= 4 + this.buf.readUInt32BE(0)) {
        const pkt = this.buf.subarray(4, 4 + this.buf.readUInt32BE(0));
        this.buf = this.buf.subarray(4 + pkt.length);
        const id = pkt[0] === 2 ? 0 : pkt.readUInt32BE(1);
        const w = this.waiting.get(id);
        this.waiting.delete(id);
        if (w) w(pkt);
        else this.replies.set(id, pkt);
      }
    });
  }
  /** Each piece its own channel write (its own SSH packet). */
  send(...pieces: Buffer[]): void {
    for (const piece of pieces) this.ch.write(piece);
  }
  reply(id: number): Promise<Buffer> {
    const r = this.replies.get(id);
    if (r) {
      this.replies.delete(id);
      return Promise.resolve(r);
    }
    return new Promise((resolve) => this.waiting.set(id, resolve));
  }
  async ok(id: number): Promise<void> {
    const r = await this.reply(id);
    expect([r[0], r.readUInt32BE(5)]).toEqual([SSH_FXP.STATUS, 0]);
  }
}

describe('review: SFTP WRITE interceptor, memory per split WRITE', () => {
  let server: SftpTestServer;
  let slow: SftpUser;

  beforeAll(async () => {
    server = await startSftpServer();
    // 1 KiB/s: one WRITE past the 16 KiB burst holds every later WRITE of the handle in its queue.
    slow = await server.addUser('slow', { bandwidth: { uploadBytesPerSecond: KiB } });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('1,000 one-byte WRITEs, each data byte in its own SSH packet, held by the handle: the server holds about what was sent, not 256 KiB each', async () => {
    const client = await sftpClient(server, slow);
    try {
      const ch = await p<ClientChannel>((cb) => client.client.subsys('sftp', cb));
      const raw = new RawSftp(ch);
      raw.send(packet(SSH_FXP.INIT, [u32(3)]));
      expect((await raw.reply(0))[0]).toBe(2);
      raw.send(packet(SSH_FXP.OPEN, [u32(1), str('/split.bin'), u32(OPEN_WRITE_CREAT_TRUNC), u32(0)]));
      const opened = await raw.reply(1);
      expect(opened[0]).toBe(SSH_FXP.HANDLE);
      const handle = opened.subarray(9, 9 + opened.readUInt32BE(5));

      // 28 KiB: 12 KiB past the burst, so the bucket is in debt for ~12 s and the WRITEs below
      // wait in the handle's queue, each holding the buffer its data was joined in.
      const first = randomBytes(28 * KiB);
      raw.send(write(10, handle, 0, first));
      const n = 1000;
      const tail = randomBytes(n);
      const before = process.memoryUsage().arrayBuffers;
      for (let i = 0; i < n; i++) {
        const w = write(100 + i, handle, first.length + i, tail.subarray(i, i + 1));
        raw.send(w.subarray(0, w.length - 1), w.subarray(w.length - 1));
      }
      // Its answer means the server parsed every byte before it.
      raw.send(packet(SSH_FXP.REALPATH, [u32(5), str('/')]));
      expect((await raw.reply(5))[0]).toBe(SSH_FXP.NAME);
      const grew = process.memoryUsage().arrayBuffers - before;
      // ~30 bytes of window per WRITE; 256 KiB each would be 250 MiB.
      expect(grew).toBeLessThan(32 * MiB);

      await raw.ok(10);
      for (let i = 0; i < n; i++) await raw.ok(100 + i);
      raw.send(packet(SSH_FXP.CLOSE, [u32(6), str(handle)]));
      await raw.ok(6);
      const got = await p<Buffer>((cb) => client.sftp.readFile('/split.bin', cb));
      const want = Buffer.concat([first, tail]);
      expect(createHash('sha256').update(got).digest('hex')).toBe(
        createHash('sha256').update(want).digest('hex'),
      );
      await p((cb) => client.sftp.unlink('/split.bin', cb));
      ch.end();
    } finally {
      client.end();
    }
  }, 120_000);
});
