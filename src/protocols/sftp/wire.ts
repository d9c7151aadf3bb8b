import type { Socket } from 'node:net';
import type { SFTPWrapper } from 'ssh2';
import { onDrain } from './socket-writes.js';
import { WindowTarget } from './window.js';

/**
 * The two things ssh2 1.17's SFTP server cannot do through its API, done here on its internals
 * (node_modules/ssh2/lib/protocol/SFTP.js, Protocol.js; the sftp tests use every one of them, so an
 * ssh2 upgrade that moves them fails a test instead of silently losing the extensions):
 *
 * - VERSION with extensions: ssh2 answers INIT with a fixed `VERSION 3` that names no extension,
 *   so OpenSSH would never send posix-rename, statvfs, fsync, limits or copy-data.
 *   `advertiseExtensions` takes the INIT packet before ssh2 sees it and answers it with our list.
 * - EXTENDED_REPLY (statvfs, limits, check-file): ssh2 has no method for it. `sendPacket` writes a
 *   raw packet exactly as ssh2's own `sendOrBuffer` does (channel window, buffering, draining).
 * - DATA replies with one copy of the bytes instead of ssh2's two (data-reply.ts `sendData`).
 * - Backpressure on what the client sends: ssh2's SFTP parser takes every byte and tops up the
 *   channel window at once, so a client could pile up WRITEs without bound. `inboundGate` stops
 *   the top-ups while paused (the client then runs out of window and waits), as a Channel whose
 *   reader is slow does; and holds requests unparsed while too many READ replies wait to go out
 *   (`onWindow` tells when ssh2 sent what it queued).
 */

export interface Outgoing {
  id: number;
  state: string;
  window: number;
  packetSize: number;
}

/** The fields of ssh2's SFTP object used here (private in ssh2, stable across 1.x). */
export interface SftpInternals {
  outgoing: Outgoing;
  incoming: { window: number };
  _waitChanDrain: boolean;
  _protocol: {
    channelData(id: number, data: Buffer): void;
    channelWindowAdjust(id: number, amount: number): void;
    exitStatus(id: number, status: number): void;
    _kexinit: unknown;
    _cipher: { allocPacket(payloadLen: number): Buffer };
    _packetRW: {
      write: { allocStart: number; alloc(size: number): Buffer; finalize(packet: Buffer): Buffer };
    };
  };
  /** The connection (ssh2's Client) and its socket. */
  _client?: { _sock?: Socket };
  _buffer: Buffer[];
  _waitWindow: boolean;
  _chunkcb: (() => void) | undefined;
  _version: number;
  _extensions: Record<string, string>;
  push(data: Buffer | null): unknown;
  emit(event: string, ...args: unknown[]): boolean;
  destroy(): void;
}

const SSH_FXP_INIT = 1;
const SSH_FXP_VERSION = 2;
export const SSH_FXP_EXTENDED_REPLY = 201;

export function internals(sftp: SFTPWrapper): SftpInternals {
  return sftp as unknown as SftpInternals;
}

/**
 * Send `exit-status` on the subsystem's channel (before closing it): OpenSSH's sftp-server exits
 * 0, and `scp` in its default (SFTP) mode fails a copy whose ssh reports no exit status (ssh then
 * exits 255), though every byte went through.
 */
export function sendExitStatus(sftp: SFTPWrapper, status: number): void {
  const s = internals(sftp);
  if (s.outgoing.state === 'open' || s.outgoing.state === 'eof')
    s._protocol.exitStatus(s.outgoing.id, status);
}

/** Send one whole SFTP packet (length prefix included), queued behind anything ssh2 buffered. */
export function sendPacket(sftp: SFTPWrapper, packet: Buffer): void {
  const s = internals(sftp);
  if (s._buffer.length > 0) {
    s._buffer.push(packet);
    return;
  }
  const rest = tryWrite(s, packet);
  if (rest !== undefined) s._buffer.push(rest);
}

/** ssh2's tryWritePayload: what the window allows now; the rest is returned to be buffered. */
function tryWrite(s: SftpInternals, payload: Buffer): Buffer | undefined {
  const out = s.outgoing;
  if (out.state !== 'open') return undefined;
  if (out.window === 0) {
    waitWindow(s);
    return payload;
  }
  let p = 0;
  while (payload.length - p > 0 && out.window > 0) {
    const n = Math.min(payload.length - p, out.window, out.packetSize);
    out.window -= n;
    if (out.window === 0) waitWindow(s);
    s._protocol.channelData(out.id, p === 0 && n === payload.length ? payload : payload.subarray(p, p + n));
    p += n;
  }
  return p < payload.length ? payload.subarray(p) : undefined;
}

/**
 * Have ssh2 call `_chunkcb` (and so `onWindow`'s listener) at the client's next WINDOW_ADJUST:
 * armed as ssh2 arms it when the window runs out (its drain of `_buffer` then runs first). Left as
 * it is when already armed.
 */
export function armWindow(s: SftpInternals): void {
  if (!s._waitWindow || s._chunkcb === undefined) waitWindow(s);
}

function waitWindow(s: SftpInternals): void {
  s._waitWindow = true;
  s._chunkcb = function drain(this: SftpInternals) {
    this._chunkcb = undefined;
    const buffer = this._buffer;
    let i = 0;
    for (; i < buffer.length; i++) {
      const payload = buffer[i] as Buffer;
      const rest = tryWrite(this, payload);
      if (rest !== undefined) {
        buffer[i] = rest;
        this._buffer = buffer.slice(i);
        return;
      }
    }
    this._buffer = [];
  };
}

/** An EXTENDED_REPLY packet for `reqid` carrying `body`. */
export function extendedReply(reqid: number, body: Buffer): Buffer {
  const buf = Buffer.allocUnsafe(9 + body.length);
  buf.writeUInt32BE(5 + body.length, 0);
  buf[4] = SSH_FXP_EXTENDED_REPLY;
  buf.writeUInt32BE(reqid, 5);
  body.copy(buf, 9);
  return buf;
}

/**
 * Answer the client's INIT with `VERSION 3` naming `extensions` (name → version string). Bytes
 * before the INIT packet is whole are held here; a first packet that is not INIT goes to ssh2
 * untouched (which refuses it as it always did).
 */
export function advertiseExtensions(sftp: SFTPWrapper, extensions: Record<string, string>): void {
  const s = internals(sftp);
  const push = s.push.bind(s);
  let held: Buffer = Buffer.alloc(0);
  s.push = (data: Buffer | null) => {
    if (s._version !== -1 || data === null) return push(data);
    held = held.length === 0 ? data : Buffer.concat([held, data]);
    if (held.length < 5) return undefined;
    const length = held.readUInt32BE(0);
    if (held[4] !== SSH_FXP_INIT || length < 5 || length > 64 * 1024) return flush();
    if (held.length < 4 + length) return undefined;
    s._version = held.readUInt32BE(5);
    s._extensions = parseExtensions(held.subarray(9, 4 + length));
    const rest = held.subarray(4 + length);
    held = Buffer.alloc(0);
    sendPacket(sftp, versionPacket(extensions));
    s.emit('ready');
    return rest.length > 0 ? push(rest) : undefined;
  };
  function flush() {
    const all = held;
    held = Buffer.alloc(0);
    s.push = push;
    return push(all);
  }
}

function versionPacket(extensions: Record<string, string>): Buffer {
  const parts: Buffer[] = [];
  for (const [name, version] of Object.entries(extensions)) parts.push(sshString(name), sshString(version));
  const body = Buffer.concat(parts);
  const buf = Buffer.allocUnsafe(9 + body.length);
  buf.writeUInt32BE(5 + body.length, 0);
  buf[4] = SSH_FXP_VERSION;
  buf.writeUInt32BE(3, 5);
  body.copy(buf, 9);
  return buf;
}

function parseExtensions(data: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  const r = new WireReader(data);
  while (r.left() > 0) {
    const name = r.string();
    const value = r.string();
    if (name === undefined || value === undefined) break;
    out[name] = value;
  }
  return out;
}

export function sshString(s: string | Buffer): Buffer {
  const body = typeof s === 'string' ? Buffer.from(s) : s;
  const len = Buffer.allocUnsafe(4);
  len.writeUInt32BE(body.length, 0);
  return Buffer.concat([len, body]);
}

export function uint64(n: number): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeBigUInt64BE(BigInt(Math.max(0, Math.floor(n))), 0);
  return b;
}

/** Reads the fields of an EXTENDED request's data; `undefined` once the data runs out. */
export class WireReader {
  private at = 0;
  constructor(private readonly buf: Buffer) {}

  left(): number {
    return this.buf.length - this.at;
  }

  bytes(): Buffer | undefined {
    if (this.left() < 4) return undefined;
    const n = this.buf.readUInt32BE(this.at);
    if (this.left() < 4 + n) return undefined;
    const out = this.buf.subarray(this.at + 4, this.at + 4 + n);
    this.at += 4 + n;
    return out;
  }

  string(): string | undefined {
    return this.bytes()?.toString('utf8');
  }

  uint32(): number | undefined {
    if (this.left() < 4) return undefined;
    const n = this.buf.readUInt32BE(this.at);
    this.at += 4;
    return n;
  }

  uint64(): number | undefined {
    if (this.left() < 8) return undefined;
    const n = this.buf.readBigUInt64BE(this.at);
    this.at += 8;
    return n > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(n);
  }
}

/**
 * Pause and resume the flow of the client's bytes on one SFTP channel, and hold its requests back.
 *
 * - `pause`/`resume`: paused, the server grants no more channel window, so at most the window
 *   already granted still arrives (WRITEs: their bytes are what fills memory). Unpaused, the
 *   window is topped up as window.ts `WindowTarget` says: growing from the window the channel
 *   opened with to ssh2's 2 MiB, and at most 256 KiB while `tight` (memory is waited for).
 * - `hold` (asked before each request): while it says so, requests that arrived stay unparsed
 *   here, and no window is granted either. 2 MiB of window is ~60,000 READs: ssh2 parses every
 *   one at once, and their replies (32 KiB each) would wait in memory for a client that does not
 *   read them. `release()` hands held requests to ssh2, one packet at a time, while `hold` allows.
 */
export function inboundGate(
  sftp: SFTPWrapper,
  hold: () => boolean = () => false,
  tight: () => boolean = () => false,
): { pause(): void; resume(): void; release(): void } {
  const s = internals(sftp);
  const push = s.push.bind(s);
  const window = new WindowTarget(s.incoming.window, tight);
  let paused = false;
  /** Bytes received and not yet handed to ssh2; they begin a packet when `left` is 0. */
  const held: Buffer[] = [];
  /** Bytes of the packet being handed over that ssh2 has not had yet. */
  let left = 0;
  /** `hold` stopped the hand-over (a packet's first bytes only waiting for the rest do not count). */
  let holding = false;
  let feeding = false;
  const feed = () => {
    if (feeding) return; // a request handled during `push` released: the loop below goes on
    feeding = true;
    holding = false;
    try {
      while (held.length > 0) {
        const head = held[0]!;
        if (left === 0) {
          if (head.length < 4) {
            if (held.length < 2) return; // the next packet's length is not whole yet
            held.splice(0, 2, Buffer.concat([head, held[1]!]));
            continue;
          }
          if (hold()) {
            holding = true;
            return;
          }
          left = 4 + head.readUInt32BE(0);
        }
        const n = Math.min(left, head.length);
        if (n === head.length) held.shift();
        else held[0] = head.subarray(n);
        left -= n;
        push(n === head.length ? head : head.subarray(0, n));
      }
    } finally {
      feeding = false;
    }
  };
  const topUp = () => {
    if (paused || holding) return;
    s._waitChanDrain = false;
    const to = window.topUp(s.incoming.window);
    if (to !== undefined) grant(s, to);
  };
  let overrun = false;
  // `false` from push tells ssh2's channel-data handler not to top up the window.
  s.push = (data: Buffer | null) => {
    if (data === null) {
      held.length = 0;
      holding = false;
      return push(null);
    }
    if (overrun || s.incoming.window < 0) {
      // The client sent past the window it was granted. ssh2 takes such bytes (it refuses data
      // only at a window of exactly 0), so a client ignoring the window made every pause point
      // and the budget moot: end the channel instead (its write handles are aborted).
      held.length = 0;
      if (!overrun) {
        overrun = true;
        s.emit('error', new Error('the client sent more than the channel window allows'));
        push(null);
        s.destroy();
      }
      return false;
    }
    if (data.length > 0) held.push(data);
    if (!holding) feed();
    if (paused || holding) return false;
    const to = window.topUp(s.incoming.window);
    if (to !== undefined) grant(s, to);
    return false; // ssh2 does not top up: only `grant` does
  };
  return {
    pause() {
      paused = true;
    },
    resume() {
      if (!paused) return;
      paused = false;
      topUp();
    },
    release() {
      if (!holding) return;
      feed();
      topUp();
    },
  };
}

/** Grant the client window up to `target` bytes (what ssh2's `windowAdjust` does for 2 MiB). */
function grant(s: SftpInternals, target: number): void {
  if (s.outgoing.state === 'closed') return;
  const amount = target - s.incoming.window;
  if (amount <= 0) return;
  s.incoming.window += amount;
  s._protocol.channelWindowAdjust(s.outgoing.id, amount);
}

/**
 * Call `fn` each time ssh2 has sent what it queued for want of window (a WINDOW_ADJUST came and
 * its drain ran), and `drained` (default `fn`) each time the connection's socket drained: replies
 * waiting went out, so held requests may go on (`inboundGate`). Until the channel ends. (Node
 * emits 'drain' after every coalesced write over the socket's 16 KiB high-water mark — several
 * times per MiB of a get — so `drained` should be cheap.)
 */
export function onWindow(sftp: SFTPWrapper, fn: () => void, drained: () => void = fn): void {
  const s = internals(sftp);
  const socket = s._client?._sock;
  if (socket !== undefined) {
    const off = onDrain(socket, drained);
    sftp.once('end', off);
    sftp.once('close', off);
  }
  let drain = s._chunkcb;
  // ssh2 calls `channel._chunkcb()` on WINDOW_ADJUST while `_waitWindow`; both ssh2's drain and
  // ours (`waitWindow`) set and clear it: they go through the setter, the call through `adjusted`.
  function adjusted(this: SftpInternals) {
    const run = drain;
    run?.call(this);
    fn();
  }
  Object.defineProperty(s, '_chunkcb', {
    configurable: true,
    enumerable: true,
    get: () => (drain === undefined ? undefined : adjusted),
    set: (f: (() => void) | undefined) => {
      drain = f;
    },
  });
}

/**
 * Bytes written for the client that it has not taken yet: queued in ssh2 for this channel for want
 * of window, and in the connection's socket (all its channels') for want of the client reading.
 */
export function queuedBytes(sftp: SFTPWrapper): number {
  const s = internals(sftp);
  let n = s._client?._sock?.writableLength ?? 0;
  for (const b of s._buffer) n += b.length;
  return n;
}
