import type { Socket } from 'node:net';
import type { SFTPWrapper } from 'ssh2';
import { copiedOut, reuseInboundPackets } from './inbound-packets.js';

/**
 * SFTP WRITE requests taken off the channel's byte stream before ssh2's parser sees them, so their
 * data is not copied into a fresh buffer per request.
 *
 * Why: OpenSSH uploads in WRITEs of ~255 KiB (the limit Ferry advertises), each spread over ~8 SSH
 * packets of 32 KiB. ssh2's parser joins every such request in a new `Buffer.allocUnsafe(length)`
 * — a quarter MiB outside V8's heap per request, 4,096 per GiB, each counted as external memory
 * that drives V8's major GCs — and the write handle then copies it into its part buffer. Here the
 * request's data is joined into one of a few buffers kept by the process instead (given back once the
 * handle took the bytes: the handle contract lets a caller reuse them then), or handed over as a
 * view of the SSH packet when one packet holds all of it (no copy at all).
 *
 * Every other packet (and a WRITE whose header does not add up, or anything before INIT) goes to
 * ssh2 byte for byte as it came, so its parser — and its checks, and its fatal errors — see the
 * stream they always saw, minus the well-formed WRITEs.
 */

/** One WRITE: `data` may be reused by this module once `release` was called. */
export type WriteListener = (
  reqid: number,
  handle: Buffer,
  offset: number,
  data: Buffer,
  release: () => void,
) => void;

const SSH_FXP_WRITE = 6;
/** ssh2's limit for an incoming SFTP packet (OPENSSH_MAX_PKT_LEN): longer ones are its to refuse. */
const MAX_PACKET = 256 * 1024;
/** ssh2 refuses a WRITE whose handle is longer (SFTP.js, "Malformed WRITE packet"). */
const MAX_HANDLE = 256;
/** Length, type, id, handle's length: the bytes before the handle. */
const HEAD = 4 + 1 + 4 + 4;
/** Offset, data's length: the bytes after the handle. */
const TAIL = 8 + 4;
/**
 * Join buffers of MAX_PACKET bytes a channel may hold at once: a handle takes a WRITE's bytes
 * within the turn it arrives unless it waits for S3 or budget, so one or two are in use at a time.
 * Past KEEP of them in use, a join buffer is the WRITE's data's size and not kept: a new MAX_PACKET
 * one for a WRITE of a few bytes held 256 KiB per ~30 bytes of window (1,000 one-byte WRITEs split
 * across SSH packets, waiting for their handle, held 250 MiB), so what waiting WRITEs hold was not
 * bounded by what the window and the budget let in.
 */
const KEEP = 2;
/**
 * MAX_PACKET join buffers given back and kept for the next WRITE of any channel: at most POOLED
 * in the process. (Two kept per channel were 10 MiB for 20 uploads, outside the buffer budget,
 * while most of those channels were paused waiting for memory: docs/notes/issue-9.md "Session 7".)
 */
const POOLED = 8;
const pool: Buffer[] = [];

interface Internals {
  _version: number;
  _protocol?: { _decipher?: unknown };
  /** The connection (ssh2's Client) and its socket. */
  _client?: { _sock?: Socket };
  outgoing: { state: string };
  push(data: Buffer | null): unknown;
}

export function interceptWrites(sftp: SFTPWrapper, onWrite: WriteListener): void {
  const s = sftp as unknown as Internals;
  const inner = s.push.bind(s);
  /** The current packet's first bytes (length … data length), while they are being read. */
  const head = Buffer.alloc(HEAD + MAX_HANDLE + TAIL);
  let headLen = 0;
  /** Bytes of the current packet still to hand to ssh2 as they come (not a WRITE taken here). */
  let passLeft = 0;
  /** The WRITE being joined: where its data goes, how much came, how much is still to come. */
  let join:
    | { reqid: number; handle: Buffer; offset: number; buf: Buffer; at: number; left: number }
    | undefined;
  /** MAX_PACKET join buffers this channel holds (joining, or holding a WRITE): at most KEEP. */
  let full = 0;

  /**
   * ssh2 refused the stream, or the channel is closing: nothing more is read, no WRITE more is
   * delivered. ssh2's fatal SFTP error on a malformed packet closes the channel but its `push`
   * returns undefined (its handler's false is not passed on), so the channel's state tells: WRITEs
   * after such a packet, in the same SSH packet or later ones, went on to their handles (and a
   * CLOSE after it stored the file).
   */
  let dead = false;
  const toSsh2 = (bytes: Buffer) => {
    if (inner(bytes) === false || !open()) dead = true;
  };
  const open = () => s.outgoing.state === 'open' || s.outgoing.state === 'eof';
  /** Hand the bytes read so far of this packet to ssh2, and the rest of it as it comes. */
  const passOn = (length: number) => {
    passLeft = 4 + length - headLen;
    const bytes = Buffer.from(head.subarray(0, headLen));
    headLen = 0;
    toSsh2(bytes);
  };

  const deliver = (reqid: number, handle: Buffer, offset: number, data: Buffer, pooled?: Buffer) => {
    let released = false;
    const release = () => {
      if (released || pooled === undefined) return;
      released = true;
      if (pooled.length !== MAX_PACKET) return;
      full--;
      if (pool.length < POOLED) pool.push(pooled);
    };
    onWrite(reqid, handle, offset, data, release);
  };

  s.push = (data: Buffer | null) => {
    if (data === null) return inner(data);
    reuseInboundPackets(s._protocol, s._client?._sock);
    if (!open()) dead = true;
    /** A view of `data` went on (to ssh2, or lent to a handle): its buffer must not be reused. */
    let kept = dead;
    let p = 0;
    while (p < data.length && !dead) {
      if (passLeft > 0) {
        const n = Math.min(passLeft, data.length - p);
        kept = true;
        toSsh2(p === 0 && n === data.length ? data : data.subarray(p, p + n));
        passLeft -= n;
        p += n;
        continue;
      }
      if (join !== undefined) {
        const n = Math.min(join.left, data.length - p);
        data.copy(join.buf, join.at, p, p + n);
        join.at += n;
        join.left -= n;
        p += n;
        if (join.left === 0) {
          const { reqid, handle, offset, buf, at } = join;
          join = undefined;
          deliver(reqid, handle, offset, buf.subarray(0, at), buf);
        }
        continue;
      }
      // A packet's head, read in three steps: length and type; id and handle's length; through
      // the data's length. Each step first checks the packet is long enough for the next one.
      const need = headLen < 5 ? 5 : headLen < HEAD ? HEAD : HEAD + head.readUInt32BE(9) + TAIL;
      const n = Math.min(need - headLen, data.length - p);
      data.copy(head, headLen, p, p + n);
      headLen += n;
      p += n;
      if (headLen < need) continue;
      const length = head.readUInt32BE(0);
      if (headLen === 5) {
        if (s._version === -1 || head[4] !== SSH_FXP_WRITE || length < HEAD - 4 + TAIL || length > MAX_PACKET)
          passOn(length);
        continue;
      }
      const handleLen = head.readUInt32BE(9);
      if (headLen === HEAD) {
        if (handleLen > MAX_HANDLE || length < HEAD - 4 + handleLen + TAIL) passOn(length);
        continue;
      }
      const dataLen = head.readUInt32BE(HEAD + handleLen + 8);
      if (length !== HEAD - 4 + handleLen + TAIL + dataLen) {
        passOn(length); // ssh2 decides what such a packet is (and refuses it as it always did)
        continue;
      }
      const reqid = head.readUInt32BE(5);
      const handle = Buffer.from(head.subarray(HEAD, HEAD + handleLen));
      // As ssh2 reads it (a uint64 past 2^53 comes out inexact, and the handle refuses it).
      const offset = head.readUInt32BE(HEAD + handleLen) * 2 ** 32 + head.readUInt32BE(HEAD + handleLen + 4);
      headLen = 0;
      if (data.length - p >= dataLen) {
        // All of the data in this SSH packet: lent as it is (ssh2 keeps no reference to it).
        kept = true;
        deliver(reqid, handle, offset, data.subarray(p, p + dataLen));
        p += dataLen;
        continue;
      }
      let buf: Buffer;
      if (full < KEEP) {
        full++;
        buf = pool.pop() ?? Buffer.allocUnsafe(MAX_PACKET); // dataLen < length ≤ MAX_PACKET
      } else buf = Buffer.allocUnsafe(dataLen);
      join = { reqid, handle, offset, buf, at: 0, left: dataLen };
    }
    copiedOut(data, kept || p < data.length);
    // As ssh2's own parser answers after a fatal error: no more window for this channel.
    return dead ? false : undefined;
  };
}
