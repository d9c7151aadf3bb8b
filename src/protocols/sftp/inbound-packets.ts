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
 */

/** ssh2's MAX_PACKET_SIZE (protocol/crypto.js): no packet it decrypts is longer. */
const SPARE_SIZE = 35000;
const SSH_MSG_CHANNEL_DATA = 94;
/** Decipher classes of ssh2 1.x that join a packet as described above (pinned by a test). */
const JOINING_DECIPHERS = new Set(['ChaChaPolyDecipherBinding', 'AESGCMDecipherBinding']);

interface Decipher {
  _len: number;
  _pktLen: number;
  _packet: Uint8Array | null;
  _onPayload(payload: Buffer): unknown;
}

/** Counts for tests and benchmarks: packets joined in the spare, and spares let go. */
export const inboundPackets = { reused: 0, dropped: 0 };

const done = new WeakSet<object>();
const hooked = new WeakSet<object>();
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
 * from now on (idempotent: call it on every channel data).
 */
export function reuseInboundPackets(protocol: { _decipher?: unknown } | undefined): void {
  if (!protocol || hooked.has(protocol)) return;
  hooked.add(protocol);
  let decipher = protocol._decipher;
  instrument(decipher);
  Object.defineProperty(protocol, '_decipher', {
    configurable: true,
    enumerable: true,
    get: () => decipher,
    set(v: unknown) {
      decipher = v;
      instrument(v);
    },
  });
}

function instrument(decipher: unknown): void {
  const d = decipher as Decipher | undefined;
  if (!d || typeof d !== 'object' || done.has(d)) return;
  done.add(d);
  if (!JOINING_DECIPHERS.has(d.constructor.name) || !('_packet' in d) || !('_len' in d)) return;
  let spare: Buffer | undefined;
  let current: Uint8Array | null = d._packet;
  let lent = false;
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
    if (!lent) return onPayload.call(d, payload);
    lent = false;
    copied = { buffer: undefined, bytes: 0 };
    let whole = false;
    try {
      const r = onPayload.call(d, payload);
      whole =
        spare !== undefined &&
        payload.buffer === spare.buffer &&
        payload[0] === SSH_MSG_CHANNEL_DATA &&
        copied.buffer === spare.buffer &&
        copied.bytes === payload.length - 9;
      return r;
    } finally {
      // A handler that threw may have kept a view: the spare goes to the GC then, too.
      copied = { buffer: undefined, bytes: 0 };
      if (whole) inboundPackets.reused++;
      else {
        inboundPackets.dropped++;
        spare = undefined;
      }
    }
  };
}
