import { createRequire } from 'node:module';
import type { SFTPWrapper } from 'ssh2';
import { takePacket } from './packet-pool.js';
import { armWindow, internals } from './wire.js';

const require = createRequire(import.meta.url);
/** ssh2's packet send (encrypt and write, or queue during a key exchange). */
const { sendPacket: sshSendPacket } = require('ssh2/lib/protocol/utils.js') as {
  sendPacket(protocol: unknown, packet: Buffer): boolean;
};

const SSH_FXP_DATA = 103;
const SSH_MSG_CHANNEL_DATA = 94;
/** The SFTP DATA packet's head: length, type, request id, the data's length. */
const HEAD = 13;
/**
 * Channel data per SSH packet at most, whatever larger packets the client allows: OpenSSH allows
 * 32 KiB, and the packet pool keeps packets of about this size (a client allowing 256 KiB would
 * otherwise have it keep 64 packets of 256 KiB).
 */
const CHUNK = 32 * 1024;

/** DATA replies sent straight into SSH packets, and handed to ssh2's `sftp.data` (copied): tests. */
export const dataReplyStats = { direct: 0, copied: 0 };

/** Per channel: the largest window the client has granted (a reply larger never fits whole). */
const largestWindow = new WeakMap<SFTPWrapper, number>();

/**
 * Whether a DATA reply of `length` bytes should wait before `sendData`: it does not fit in the
 * window now (or ssh2 holds bytes queued before it) but will once the client reads what it was
 * sent — ask again after `onWindow` (wire.ts) fires; this arms it. Waiting keeps the reply's bytes
 * where they are (a lent view of a part read ahead) instead of a copy queued in ssh2. Not while a
 * key exchange runs or the channel is not open (`sendData` then goes ssh2's way), nor for a reply
 * larger than any window the client granted.
 */
export function dataWaits(sftp: SFTPWrapper, length: number): boolean {
  const s = internals(sftp);
  const out = s.outgoing;
  if (out.state !== 'open' || s._protocol._kexinit !== undefined) return false;
  const largest = Math.max(largestWindow.get(sftp) ?? 0, out.window);
  largestWindow.set(sftp, largest);
  if (s._buffer.length === 0 && HEAD + length <= out.window) return false;
  if (HEAD + length > largest) return false;
  armWindow(s);
  return true;
}

/**
 * A READ reply waits this long at most for the client's window to hold it whole (`ReplyWindow`).
 * Clients grant window as they read (OpenSSH once 96 KiB of it is spent), so the wait normally
 * ends at their next WINDOW_ADJUST; this bounds it for one that would not.
 */
const WINDOW_WAIT_MS = 1000;

/**
 * One channel's READ replies waiting for the client's window (`dataWaits`) before `sendData`.
 * `wake` is called when the client granted window (wire.ts `onWindow`) and when the channel ends.
 * A wait longer than WINDOW_WAIT_MS (a client that grants window only once all of it is spent,
 * or one that stopped reading) ends waiting on this channel: that reply and every later one go
 * the way that does not wait (ssh2's: a copy, queued), as all did before replies waited.
 */
export class ReplyWindow {
  private waiters: (() => void)[] = [];
  private gaveUp = false;

  constructor(
    private readonly sftp: SFTPWrapper,
    private readonly signal: AbortSignal,
  ) {}

  /** Resolves once a reply of `length` bytes may go to `sendData`. */
  async fits(length: number): Promise<void> {
    if (this.gaveUp || this.signal.aborted || !dataWaits(this.sftp, length)) return;
    // One timer for the whole wait, however many WINDOW_ADJUSTs it takes (OpenSSH grants every
    // 96 KiB: a 255 KiB reply looks again ~3 times).
    let late = false;
    const timer = setTimeout(() => {
      late = true;
      this.wake();
    }, WINDOW_WAIT_MS);
    try {
      do {
        if (late) {
          this.gaveUp = true;
          return;
        }
        await new Promise<void>((resolve) => this.waiters.push(resolve));
      } while (!this.gaveUp && !this.signal.aborted && dataWaits(this.sftp, length));
    } finally {
      clearTimeout(timer);
    }
  }

  /** The client granted window (or the channel ended): waiting replies look again. */
  wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}

/**
 * Answer READ `reqid` with `data`, copied once: straight into the SSH packets (CHANNEL_DATA header,
 * then the SFTP DATA header and the bytes, cut at the client's packet size; ssh2 then encrypts each
 * in place) when the whole reply fits in the window, nothing is queued before it and no key
 * exchange runs. ssh2's `sftp.data` copies the bytes twice (into an SFTP packet, then into each
 * SSH packet) and queues what the window does not take. Otherwise it does exactly that.
 * Either way `data` is not referenced once this returns (a lent view can be released).
 */
export function sendData(sftp: SFTPWrapper, reqid: number, data: Buffer): void {
  const s = internals(sftp);
  const out = s.outgoing;
  const proto = s._protocol;
  const n = HEAD + data.length; // the SFTP packet: length, type, id, data's length, data
  const chunk = Math.min(out.packetSize, CHUNK);
  if (
    s._buffer.length > 0 ||
    out.state !== 'open' ||
    n > out.window ||
    proto._kexinit !== undefined ||
    chunk <= HEAD
  ) {
    dataReplyStats.copied++;
    sftp.data(reqid, data);
    return;
  }
  dataReplyStats.direct++;
  const writer = proto._packetRW.write;
  const socket = s._client?._sock;
  let at = 0; // bytes of `data` sent
  for (let first = true; first || at < data.length; first = false) {
    const head = first ? HEAD : 0;
    const take = Math.min(chunk - head, data.length - at);
    const len = head + take; // this packet's channel data
    let p = writer.allocStart;
    // Payload at 5 (ssh2's plain writer; no compression is offered): a pooled packet when it can.
    const pooled = p === 5 ? takePacket(socket, proto._cipher, 9 + len) : undefined;
    const packet = pooled ?? writer.alloc(9 + len);
    packet[p] = SSH_MSG_CHANNEL_DATA;
    packet.writeUInt32BE(out.id, p + 1);
    packet.writeUInt32BE(len, p + 5);
    p += 9;
    if (first) {
      packet.writeUInt32BE(n - 4, p);
      packet[p + 4] = SSH_FXP_DATA;
      packet.writeUInt32BE(reqid, p + 5);
      packet.writeUInt32BE(data.length, p + 9);
      p += HEAD;
    }
    packet.set(at === 0 && take === data.length ? data : data.subarray(at, at + take), p);
    at += take;
    out.window -= len;
    sshSendPacket(proto, writer.finalize(packet));
  }
  if (out.window === 0) armWindow(s);
}
