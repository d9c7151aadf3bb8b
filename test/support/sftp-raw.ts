import type { Client, ClientChannel } from 'ssh2';
import { expect } from 'vitest';
import { p } from './sftp.js';

/**
 * SFTP spoken by hand on the `sftp` subsystem of an ssh2 client (`rawSftp`), for what no client
 * library lets a test do: cut requests where a real stream may cut them, send without reading the
 * replies, read replies no library exposes (VERSION's extensions, check-file). The packet builders
 * (`u32`, `u64`, `str`, `packet`, `write`) make the bytes; `RawSftp` sends them and hands back
 * replies in arrival order (`next`) or by request id (`reply`, `ok`, `failed`, `handle`).
 */

export const SSH_FXP = {
  INIT: 1,
  VERSION: 2,
  OPEN: 3,
  CLOSE: 4,
  READ: 5,
  WRITE: 6,
  FSTAT: 8,
  OPENDIR: 11,
  REALPATH: 16,
  STAT: 17,
  STATUS: 101,
  HANDLE: 102,
  DATA: 103,
  NAME: 104,
  ATTRS: 105,
  EXTENDED: 200,
  EXTENDED_REPLY: 201,
} as const;
export const SSH_FX_OP_UNSUPPORTED = 8;
export const OPEN_READ = 0x01;
export const OPEN_WRITE_CREAT_TRUNC = 0x02 | 0x08 | 0x10;

export function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}
export function u64(n: number | bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
}
export function str(s: string | Buffer): Buffer {
  const b = typeof s === 'string' ? Buffer.from(s) : s;
  return Buffer.concat([u32(b.length), b]);
}
/** A whole SFTP packet (length prefix included). `extraLength`: a length field that lies. */
export function packet(type: number, fields: Buffer[], extraLength = 0): Buffer {
  const body = Buffer.concat([Buffer.from([type]), ...fields]);
  return Buffer.concat([u32(body.length + extraLength), body]);
}
export function write(id: number, handle: Buffer, offset: number, data: Buffer): Buffer {
  return packet(SSH_FXP.WRITE, [u32(id), str(handle), u64(offset), str(data)]);
}

/** A request field: a string (`str`), a number (uint32), a bigint (uint64) or bytes as they are. */
export type Field = Buffer | string | number | bigint;
function field(f: Field): Buffer {
  if (typeof f === 'string') return str(f);
  if (typeof f === 'number') return u32(f);
  if (typeof f === 'bigint') return u64(f);
  return f;
}

/** The strings one after another in `data` (VERSION's extension names and values). */
export function readStrings(data: Buffer): string[] {
  const out: string[] = [];
  for (let at = 0; at + 4 <= data.length; ) {
    const n = data.readUInt32BE(at);
    out.push(data.subarray(at + 4, at + 4 + n).toString());
    at += 4 + n;
  }
  return out;
}

/** The `sftp` subsystem spoken by hand; replies in arrival order (`next`) or by request id (`reply`). */
export class RawSftp {
  /** The channel closed (the server ended it). */
  closed = false;
  private buf: Buffer = Buffer.alloc(0);
  /** Replies no one has asked for yet, in arrival order. */
  private readonly arrived: Buffer[] = [];
  /** Who waits for a reply: the next one (`id` undefined) or one request's. */
  private readonly waiting: { id?: number; take: (packet: Buffer) => void }[] = [];

  constructor(readonly ch: ClientChannel) {
    ch.on('data', (d: Buffer) => {
      this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
      while (this.buf.length >= 4 && this.buf.length >= 4 + this.buf.readUInt32BE(0)) {
        const pkt = this.buf.subarray(4, 4 + this.buf.readUInt32BE(0));
        this.buf = this.buf.subarray(4 + pkt.length);
        const id = idOf(pkt);
        const at = this.waiting.findIndex((w) => w.id === undefined || w.id === id);
        if (at >= 0) this.waiting.splice(at, 1)[0]!.take(pkt);
        else this.arrived.push(pkt);
      }
    });
    ch.on('close', () => {
      this.closed = true;
    });
  }

  /** Each piece its own channel write (its own SSH packet). */
  send(...pieces: Buffer[]): void {
    for (const piece of pieces) this.ch.write(piece);
  }
  /** One request as one channel write: `type`, then `fields` (see `Field`). */
  request(type: number, ...fields: Field[]): void {
    this.ch.write(packet(type, fields.map(field)));
  }
  /** The next reply not yet taken, whatever its id. */
  next(): Promise<Buffer> {
    const ready = this.arrived.shift();
    if (ready) return Promise.resolve(ready);
    return new Promise((take) => this.waiting.push({ take }));
  }
  /** The reply to request `id` (0: VERSION). */
  reply(id: number): Promise<Buffer> {
    const at = this.arrived.findIndex((r) => idOf(r) === id);
    if (at >= 0) return Promise.resolve(this.arrived.splice(at, 1)[0]!);
    return new Promise((take) => this.waiting.push({ id, take }));
  }
  /** The reply to `id` is STATUS OK. */
  async ok(id: number): Promise<void> {
    const r = await this.reply(id);
    expect([r[0], r.readUInt32BE(5)]).toEqual([SSH_FXP.STATUS, 0]);
  }
  /** The reply to `id` is a STATUS that is not OK: its code. */
  async failed(id: number): Promise<number> {
    const r = await this.reply(id);
    expect(r[0]).toBe(SSH_FXP.STATUS);
    expect(r.readUInt32BE(5)).not.toBe(0);
    return r.readUInt32BE(5);
  }
  /** Send request `type` with id `id` and `fields`; its reply is a HANDLE: the handle. */
  async handle(id: number, type: number, fields: Buffer[]): Promise<Buffer> {
    this.send(packet(type, [u32(id), ...fields]));
    const r = await this.reply(id);
    expect(r[0]).toBe(SSH_FXP.HANDLE);
    return r.subarray(9, 9 + r.readUInt32BE(5));
  }
  /** OPEN `path` (for writing, created, truncated unless `flags` say otherwise): the handle. */
  open(id: number, path: string, flags = OPEN_WRITE_CREAT_TRUNC): Promise<Buffer> {
    return this.handle(id, SSH_FXP.OPEN, [str(path), u32(flags), u32(0)]);
  }
}

/** A reply's request id; VERSION has none (0). */
function idOf(pkt: Buffer): number {
  return pkt[0] === SSH_FXP.VERSION ? 0 : pkt.readUInt32BE(1);
}

/**
 * A new `sftp` subsystem channel on `client`, spoken by hand. With `init` (the default) INIT v3 is
 * sent and VERSION awaited; without, the test sends INIT itself.
 */
export async function rawSftp(client: Client, options: { init?: boolean } = {}): Promise<RawSftp> {
  const ch = await p<ClientChannel>((cb) => client.subsys('sftp', cb));
  const raw = new RawSftp(ch);
  if (options.init ?? true) {
    raw.send(packet(SSH_FXP.INIT, [u32(3)]));
    expect((await raw.reply(0))[0]).toBe(SSH_FXP.VERSION);
  }
  return raw;
}
