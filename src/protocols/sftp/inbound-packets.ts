import type { Socket } from 'node:net';
import { reuseSocketReads } from './socket-reads.js';

/**
 * One buffer per connection for the SSH packets ssh2 decrypts, instead of a new one per packet,
 * when what the packet carried was copied out of it.
 *
 * Why: ssh2's AEAD deciphers (chacha20-poly1305, aes-gcm) decrypt a packet in place when it lies
 * whole in one socket read, and otherwise join it in a fresh `Buffer.allocUnsafe(length)` — about
 * a third of an upload's 32 KiB packets (socket reads are 64 KiB). Each is garbage once its bytes
 * were taken, but stays resident until a scavenge: with 20 uploads at ~100 MiB/s, 30–37 MiB of
 * them were awaiting the GC at the peak (docs/notes/issue-9.md "Session 8: memory"), outside
 * the buffer budget.
 *
 * How: the decipher's `_packet` becomes an accessor; when ssh2 looks for a packet buffer to join
 * into (`if (!this._packet) this._packet = Buffer.allocUnsafe(this._len)`: the only read while it
 * is null), it gets a view of the connection's spare. After the packet was handled, the spare is
 * kept only if the packet was SSH_MSG_CHANNEL_DATA and every byte of its data was copied out by
 * write-packets.ts (`copiedOut`): no view of it left anywhere. Any other packet (a channel of scp,
 * a WRITE lent as a view, bytes handed to ssh2's own parser or held back by the gate, zlib) keeps
 * the spare: it is dropped to the GC as ssh2's own buffer would be, and a new spare is made.
 *
 * The same rule decides whether the connection's socket read buffer (socket-reads.ts) may take
 * the next read: every packet decrypted in place in it was CHANNEL_DATA copied out whole (or a
 * WINDOW_ADJUST, two numbers read), the decipher did not change during the read, and it does not
 * hold a packet read whole but for its MAC (a view of the read, kept until the next one).
 */

/** ssh2's MAX_PACKET_SIZE (protocol/crypto.js): no packet it decrypts is longer. */
const SPARE_SIZE = 35000;
const SSH_MSG_CHANNEL_WINDOW_ADJUST = 93;
const SSH_MSG_CHANNEL_DATA = 94;
/** Decipher classes of ssh2 1.x that join a packet as described above (pinned by a test). */
const JOINING_DECIPHERS = new Set(['ChaChaPolyDecipherBinding', 'AESGCMDecipherBinding']);

interface Decipher {
  _len: number;
  _pktLen: number;
  _packet: Uint8Array | null;
  _onPayload(payload: Buffer): unknown;
}

/** The connection's socket read being parsed (socket-reads.ts), while it is. */
interface Reading {
  buffer: ArrayBufferLike | undefined;
  /** The decipher the read began with. */
  decipher: unknown;
  /** Nothing of the read is referenced so far. */
  clean: boolean;
}

/**
 * Counts for tests and benchmarks: packets joined in the spare, spares let go, and socket reads
 * that ended with a packet whole but for its MAC (a view of the read kept until the next one).
 */
export const inboundPackets = { reused: 0, dropped: 0, heldOver: 0 };

/** Per instrumented decipher: its packet being read, without lending it the spare. */
const packets = new WeakMap<object, () => Uint8Array | null>();
const hooked = new WeakMap<object, Reading>();
const reading = new WeakSet<object>();
/** What write-packets.ts copied out of the packet being handled: its buffer and bytes. */
let copied: { buffer: ArrayBufferLike | undefined; bytes: number } = { buffer: undefined, bytes: 0 };

/**
 * Bytes of a packet's channel data that were copied out (`kept`: false) or of which a view was
 * kept or handed on (`kept`: true, the packet's buffer must not be reused).
 */
export function copiedOut(data: Buffer, kept: boolean): void {
  if (copied.buffer !== data.buffer) copied = { buffer: data.buffer, bytes: 0 };
  copied.bytes = kept || copied.bytes < 0 ? -1 : copied.bytes + data.length;
}

/**
 * Reuse packet buffers on this connection's decipher, and on each one a key exchange installs
 * from now on, and read `socket` (the connection's) into a reused buffer (socket-reads.ts) while
 * nothing of a read is kept. Idempotent: call it on every channel data.
 */
export function reuseInboundPackets(protocol: { _decipher?: unknown } | undefined, socket?: Socket): void {
  if (!protocol) return;
  let read = hooked.get(protocol);
  if (!read) {
    const r: Reading = { buffer: undefined, decipher: undefined, clean: false };
    read = r;
    hooked.set(protocol, r);
    let decipher = protocol._decipher;
    instrument(decipher, r);
    Object.defineProperty(protocol, '_decipher', {
      configurable: true,
      enumerable: true,
      get: () => decipher,
      set(v: unknown) {
        decipher = v;
        r.clean = false; // a key exchange during a read: nothing is known of the new decipher's
        instrument(v, r);
      },
    });
  }
  if (!socket || reading.has(protocol)) return;
  reading.add(protocol);
  const r = read;
  reuseSocketReads(socket, {
    start(buffer) {
      r.buffer = buffer;
      r.decipher = protocol._decipher;
      // Only a decipher instrumented here reports the packets it decrypts in place.
      r.clean = typeof r.decipher === 'object' && r.decipher !== null && packets.has(r.decipher);
    },
    parsed() {
      const d = protocol._decipher;
      // A packet read whole but for its MAC stays a view of the read until the next one.
      const held = packets.get(d as object)?.()?.buffer === r.buffer;
      if (held) inboundPackets.heldOver++;
      const clean = r.clean && d === r.decipher && !held;
      r.buffer = undefined;
      r.decipher = undefined;
      return clean;
    },
  });
}

function instrument(decipher: unknown, read: Reading): void {
  const d = decipher as Decipher | undefined;
  if (!d || typeof d !== 'object' || packets.has(d)) return;
  if (!JOINING_DECIPHERS.has(d.constructor.name) || !('_packet' in d) || !('_len' in d)) return;
  let spare: Buffer | undefined;
  let current: Uint8Array | null = d._packet;
  let lent = false;
  packets.set(d, () => current);
  Object.defineProperty(d, '_packet', {
    configurable: true,
    enumerable: true,
    get() {
      if (current === null && d._pktLen === 0 && d._len > 0 && d._len <= SPARE_SIZE) {
        spare ??= Buffer.allocUnsafeSlow(SPARE_SIZE);
        current = spare.subarray(0, d._len);
        lent = true;
      }
      return current;
    },
    set(v: Uint8Array | null) {
      current = v;
    },
  });
  const onPayload = d._onPayload;
  d._onPayload = (payload: Buffer) => {
    const inSpare = lent;
    lent = false;
    // Decrypted in place in the socket read being parsed (the packet lay whole in it).
    const inRead = read.buffer !== undefined && payload.buffer === read.buffer;
    if (!inSpare && !inRead) return onPayload.call(d, payload);
    copied = { buffer: undefined, bytes: 0 };
    let whole = false;
    try {
      const r = onPayload.call(d, payload);
      whole =
        (payload[0] === SSH_MSG_CHANNEL_DATA &&
          copied.buffer === payload.buffer &&
          copied.bytes === payload.length - 9) ||
        // Two numbers read (ssh2's handler keeps no view of it).
        (inRead && payload[0] === SSH_MSG_CHANNEL_WINDOW_ADJUST);
      return r;
    } finally {
      // A handler that threw may have kept a view: the spare goes to the GC then, too.
      copied = { buffer: undefined, bytes: 0 };
      if (inRead && !whole) read.clean = false;
      if (inSpare) {
        if (whole && spare !== undefined && payload.buffer === spare.buffer) inboundPackets.reused++;
        else {
          inboundPackets.dropped++;
          spare = undefined;
        }
      }
    }
  };
}
