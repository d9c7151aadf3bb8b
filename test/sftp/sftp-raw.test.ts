import { createHash } from 'node:crypto';
import type { ClientChannel } from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { p, type SftpTestServer, sftpClient, startSftpServer } from '../support/sftp.js';

/** SFTP spoken by hand on the `sftp` subsystem: what no client library exposes (check-file's reply). */
class RawSftp {
  private buf = Buffer.alloc(0);
  private waiting: ((packet: Buffer) => void)[] = [];
  private packets: Buffer[] = [];
  constructor(private readonly ch: ClientChannel) {
    ch.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      while (this.buf.length >= 4 && this.buf.length >= 4 + this.buf.readUInt32BE(0)) {
        const len = this.buf.readUInt32BE(0);
        const packet = this.buf.subarray(4, 4 + len);
        this.buf = this.buf.subarray(4 + len);
        const w = this.waiting.shift();
        if (w) w(packet);
        else this.packets.push(packet);
      }
    });
  }
  send(type: number, ...fields: (Buffer | string | number | bigint)[]): void {
    const parts = fields.map((f) => {
      if (typeof f === 'string') return str(f);
      if (typeof f === 'bigint') {
        const b = Buffer.alloc(8);
        b.writeBigUInt64BE(f);
        return b;
      }
      if (typeof f === 'number') {
        const b = Buffer.alloc(4);
        b.writeUInt32BE(f);
        return b;
      }
      return f;
    });
    const body = Buffer.concat([Buffer.from([type]), ...parts]);
    const len = Buffer.alloc(4);
    len.writeUInt32BE(body.length);
    this.ch.write(Buffer.concat([len, body]));
  }
  next(): Promise<Buffer> {
    const ready = this.packets.shift();
    if (ready) return Promise.resolve(ready);
    return new Promise((resolve) => this.waiting.push(resolve));
  }
}

function str(s: string | Buffer): Buffer {
  const b = typeof s === 'string' ? Buffer.from(s) : s;
  const len = Buffer.alloc(4);
  len.writeUInt32BE(b.length);
  return Buffer.concat([len, b]);
}

function readStrings(data: Buffer): string[] {
  const out: string[] = [];
  for (let at = 0; at + 4 <= data.length; ) {
    const n = data.readUInt32BE(at);
    out.push(data.subarray(at + 4, at + 4 + n).toString());
    at += 4 + n;
  }
  return out;
}

describe('SFTP on the wire: VERSION extensions, check-file, unknown extensions', () => {
  let server: SftpTestServer;
  let raw: RawSftp;
  let end: () => void;
  const body = Buffer.from('check me, please\n');

  beforeAll(async () => {
    server = await startSftpServer();
    const c = await sftpClient(server, server.user);
    await p((cb) => c.sftp.writeFile('/sum.txt', body, cb));
    const ch = await p<ClientChannel>((cb) => c.client.subsys('sftp', cb));
    raw = new RawSftp(ch);
    end = c.end;
  });
  afterAll(async () => {
    end?.();
    await server?.close();
  });

  it('VERSION 3 names the extensions', async () => {
    raw.send(1, 3); // INIT v3
    const v = await raw.next();
    expect(v[0]).toBe(2);
    expect(v.readUInt32BE(1)).toBe(3);
    const names = readStrings(v.subarray(5));
    expect(names).toEqual(
      expect.arrayContaining(['posix-rename@openssh.com', 'limits@openssh.com', 'copy-data', 'check-file']),
    );
    expect(names).not.toContain('hardlink@openssh.com');
  });

  it('check-file-name answers the first offered algorithm with the whole-file digest', async () => {
    raw.send(200, 7, 'check-file-name', '/sum.txt', 'sha512,sha256,md5', 0n, 0n, 0);
    const r = await raw.next();
    expect(r[0]).toBe(201); // EXTENDED_REPLY
    expect(r.readUInt32BE(1)).toBe(7);
    const alg = r.readUInt32BE(5);
    expect(r.subarray(9, 9 + alg).toString()).toBe('sha256');
    expect(r.subarray(9 + alg).toString('hex')).toBe(createHash('sha256').update(body).digest('hex'));
  });

  it('a partial check-file, an unknown extension and hardlink are OP_UNSUPPORTED; the channel lives on', async () => {
    raw.send(200, 8, 'check-file-name', '/sum.txt', 'md5', 1n, 0n, 0);
    raw.send(200, 9, 'no-such-extension@example.com', 'x');
    raw.send(200, 10, 'hardlink@openssh.com', '/sum.txt', '/hard.txt');
    // Replies come as each request finishes, not necessarily in order.
    const replies = [await raw.next(), await raw.next(), await raw.next()];
    const byId = new Map(replies.map((r) => [r.readUInt32BE(1), r]));
    for (const id of [8, 9, 10]) {
      const r = byId.get(id) as Buffer;
      expect(r[0]).toBe(101); // STATUS
      expect(r.readUInt32BE(5)).toBe(8); // OP_UNSUPPORTED
    }
    raw.send(200, 11, 'check-file-name', '/sum.txt', 'md5', 0n, 0n, 0);
    const ok = await raw.next();
    expect(ok[0]).toBe(201);
    expect(ok.subarray(9 + 3).toString('hex')).toBe(createHash('md5').update(body).digest('hex'));
  });
});
