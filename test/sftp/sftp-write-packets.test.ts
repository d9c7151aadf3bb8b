import { createHash, randomBytes } from 'node:crypto';
import type { ClientChannel } from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { p, type SftpTestServer, sftpClient, startSftpServer } from '../support/sftp.js';

/**
 * WRITE requests are parsed by Ferry before ssh2 sees the channel's bytes
 * (src/protocols/sftp/write-packets.ts): their data joined into reused buffers, or lent as a view
 * of the SSH packet. Here the bytes are sent by hand on the `sftp` subsystem, cut where a real
 * stream may cut them (every byte of a WRITE's head in its own SSH packet, a request's tail and
 * the next WRITE's head in one), and the file read back must be exactly what was written.
 */

const SSH_FXP = { INIT: 1, OPEN: 3, CLOSE: 4, WRITE: 6, FSTAT: 8, STATUS: 101, HANDLE: 102, ATTRS: 105 };
const OPEN_WRITE_CREAT_TRUNC = 0x02 | 0x08 | 0x10;

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
/** A whole SFTP packet (length prefix included). `extraLength`: a length field that lies. */
function packet(type: number, fields: Buffer[], extraLength = 0): Buffer {
  const body = Buffer.concat([Buffer.from([type]), ...fields]);
  return Buffer.concat([u32(body.length + extraLength), body]);
}
function write(id: number, handle: Buffer, offset: number, data: Buffer): Buffer {
  return packet(SSH_FXP.WRITE, [u32(id), str(handle), u64(offset), str(data)]);
}

/** The `sftp` subsystem spoken by hand; replies by request id. */
class RawSftp {
  private buf = Buffer.alloc(0);
  private readonly replies = new Map<number, Buffer>();
  private readonly waiting = new Map<number, (p: Buffer) => void>();
  closed = false;
  constructor(readonly ch: ClientChannel) {
    ch.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      while (this.buf.length >= 4 && this.buf.length >= 4 + this.buf.readUInt32BE(0)) {
        const pkt = this.buf.subarray(4, 4 + this.buf.readUInt32BE(0));
        this.buf = this.buf.subarray(4 + pkt.length);
        const id = pkt[0] === 2 ? 0 : pkt.readUInt32BE(1); // VERSION has no id
        const w = this.waiting.get(id);
        this.waiting.delete(id);
        if (w) w(pkt);
        else this.replies.set(id, pkt);
      }
    });
    ch.on('close', () => {
      this.closed = true;
    });
  }
  /** Send `bytes` as one channel write each (each its own SSH packet). */
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
  async open(id: number, path: string): Promise<Buffer> {
    this.send(packet(SSH_FXP.OPEN, [u32(id), str(path), u32(OPEN_WRITE_CREAT_TRUNC), u32(0)]));
    const r = await this.reply(id);
    expect(r[0]).toBe(SSH_FXP.HANDLE);
    return r.subarray(9, 9 + r.readUInt32BE(5));
  }
}

/** Every byte of `b` its own piece. */
const bytewise = (b: Buffer): Buffer[] => [...b].map((x) => Buffer.from([x]));

describe('SFTP WRITEs parsed before ssh2 (write-packets.ts)', () => {
  let server: SftpTestServer;
  let client: Awaited<ReturnType<typeof sftpClient>>;

  const channel = async (): Promise<RawSftp> => {
    const ch = await p<ClientChannel>((cb) => client.client.subsys('sftp', cb));
    const raw = new RawSftp(ch);
    raw.send(packet(SSH_FXP.INIT, [u32(3)]));
    expect((await raw.reply(0))[0]).toBe(2);
    return raw;
  };
  const readBack = (path: string) => p<Buffer>((cb) => client.sftp.readFile(path, cb));

  beforeAll(async () => {
    server = await startSftpServer();
    client = await sftpClient(server, server.user);
  });
  afterAll(async () => {
    client?.end();
    await server?.close();
  });

  it('WRITEs cut at every byte of their head, spread over SSH packets or lent whole, requests between them: the file is what was sent', async () => {
    const raw = await channel();
    const handle = await raw.open(1, '/cut.bin');
    const a = randomBytes(100 * 1024);
    const b = randomBytes(300);
    const c = randomBytes(255 * 1024);
    const w1 = write(10, handle, 0, a);
    const head = 4 + 1 + 4 + 4 + handle.length + 8 + 4;
    // W1: every byte of its head alone, then its data in three uneven pieces.
    raw.send(...bytewise(w1.subarray(0, head + 1)), w1.subarray(head + 1, 50_000), w1.subarray(50_000));
    // An FSTAT cut in two, its tail in one piece with W2's head; W2 whole in that piece too.
    const fstat = packet(SSH_FXP.FSTAT, [u32(11), str(handle)]);
    const w2 = write(12, handle, a.length, b);
    raw.send(fstat.subarray(0, 3), Buffer.concat([fstat.subarray(3), w2]));
    // W3: more than an SSH packet of data (ssh2 splits the write), then an empty WRITE.
    raw.send(
      write(13, handle, a.length + b.length, c),
      write(14, handle, a.length + b.length + c.length, Buffer.alloc(0)),
    );
    await raw.ok(10);
    expect((await raw.reply(11))[0]).toBe(SSH_FXP.ATTRS);
    await raw.ok(12);
    await raw.ok(13);
    await raw.ok(14);
    raw.send(packet(SSH_FXP.CLOSE, [u32(15), str(handle)]));
    await raw.ok(15);
    const want = Buffer.concat([a, b, c]);
    const got = await readBack('/cut.bin');
    expect(got.length).toBe(want.length);
    expect(createHash('sha256').update(got).digest('hex')).toBe(
      createHash('sha256').update(want).digest('hex'),
    );
    raw.ch.end();
  });

  it('many WRITEs in flight at once, out of order (join buffers reused only once taken): the file is what was sent', async () => {
    const raw = await channel();
    const handle = await raw.open(1, '/many.bin');
    const piece = 255 * 1024;
    const want = randomBytes(48 * piece + 1234);
    const offsets = Array.from({ length: Math.ceil(want.length / piece) }, (_, i) => i * piece);
    // Sequential for the first half, the second half's WRITEs reversed (held until their turn).
    const order = [...offsets.slice(0, 24), ...offsets.slice(24).reverse()];
    for (const [i, at] of order.entries())
      raw.send(write(100 + i, handle, at, want.subarray(at, at + piece)));
    for (let i = 0; i < order.length; i++) await raw.ok(100 + i);
    raw.send(packet(SSH_FXP.CLOSE, [u32(2), str(handle)]));
    await raw.ok(2);
    const got = await readBack('/many.bin');
    expect(createHash('sha256').update(got).digest('hex')).toBe(
      createHash('sha256').update(want).digest('hex'),
    );
    raw.ch.end();
  });

  it('a WRITE with bytes past its fields goes to ssh2, which takes it as before (the data is the string)', async () => {
    const raw = await channel();
    const handle = await raw.open(1, '/extra.bin');
    const data = Buffer.from('only these bytes\n');
    const fields = [u32(3), str(handle), u64(0), str(data), Buffer.from('trailing')];
    raw.send(packet(SSH_FXP.WRITE, fields));
    await raw.ok(3);
    raw.send(packet(SSH_FXP.CLOSE, [u32(4), str(handle)]));
    await raw.ok(4);
    expect((await readBack('/extra.bin')).toString()).toBe(data.toString());
    raw.ch.end();
  });

  it('a WRITE whose data length runs past the packet is refused as ssh2 refuses it: the channel closes, nothing is stored', async () => {
    const raw = await channel();
    const handle = await raw.open(1, '/bad.bin');
    // The data string says 100 bytes, the packet holds 10 of them.
    const bad = packet(SSH_FXP.WRITE, [u32(3), str(handle), u64(0), u32(100), Buffer.alloc(10)]);
    raw.send(bad);
    for (let i = 0; i < 100 && !raw.closed; i++) await new Promise((r) => setTimeout(r, 50));
    expect(raw.closed).toBe(true);
    await expect(p((cb) => client.sftp.stat('/bad.bin', (err) => cb(err)))).rejects.toThrow(/no such file/i);
  });
});
