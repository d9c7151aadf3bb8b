import { randomFillSync } from 'node:crypto';
import type { Socket } from 'node:net';

/**
 * SSH packets for SFTP DATA replies (wire.ts `sendData`), reused instead of one new 32 KiB buffer
 * per reply. ssh2 allocates every packet afresh (`allocPacket`: `Buffer.allocUnsafe`, then
 * `randomFillSync` of its few bytes of padding); an SFTP get sends 32 of them per MiB, and those
 * buffers (with the socket's 64 KiB reads) are what set off a young-generation GC for "external
 * memory pressure" every ~10 MiB, and the padding's `randomFillSync` (one crypto job each) cost as
 * much as a tenth of the read path (docs/notes/issue-9.md "Session 7: download").
 *
 * A packet goes back to the pool only once the socket it was written to has handed every byte
 * queued on it to the kernel (`coalesceWrites` calls `flushed` after each corked write when the
 * socket's `writableLength` is 0, and on 'drain', when a write that did not finish at once has):
 * until then libuv may still read it. Packets are laid out as ssh2's own `allocPacket` lays them out for that cipher (the
 * layout of a payload length is taken once from `allocPacket` itself: total length, the packet
 * length field, the padding length); the padding is fresh CSPRNG output every packet, drawn from
 * a block filled 4 KiB at a time. Only ciphers whose `encrypt` works on that same buffer are
 * pooled (chacha20-poly1305 and AES-GCM through ssh2's native binding / Node's crypto); any other
 * goes ssh2's way.
 */

/** ssh2's cipher classes known to lay packets out as [length][padLen][payload][padding][mac]. */
const POOLED_CIPHERS = new Set(['ChaChaPolyCipherBinding', 'AESGCMCipherBinding', 'AESGCMCipherNative']);
/** Buffers kept for reuse, process-wide (~2 MiB of 32 KiB packets: one client window's worth). */
const MAX_FREE = 64;
const RANDOM_BLOCK = 4096;
/**
 * Packets tracked per socket at most (~2 MiB, one client window): past it the oldest is forgotten
 * (left to the GC, never reused), so a socket whose queue never empties (a slow client) does not
 * keep every packet of its transfer alive.
 */
const MAX_PENDING = 64;
/** Smaller packets go ssh2's way (Node's own pool serves them; a few per file). */
const MIN_POOLED = 16 * 1024;

interface Cipher {
  allocPacket(payloadLen: number): Buffer;
}
interface Layout {
  length: number;
  head: number;
  padLen: number;
}

const layouts = new WeakMap<Cipher, Map<number, Layout>>();
const free = new Map<number, Buffer[]>();
let freeCount = 0;
/** Per socket: packets written to it and not yet known to be handed to the kernel. */
const inFlight = new WeakMap<Socket, Buffer[]>();

const random = Buffer.allocUnsafeSlow(RANDOM_BLOCK);
let randomAt = RANDOM_BLOCK;

function fillPadding(packet: Buffer, at: number, n: number): void {
  if (randomAt + n > RANDOM_BLOCK) {
    randomFillSync(random);
    randomAt = 0;
  }
  random.copy(packet, at, randomAt, randomAt + n);
  randomAt += n; // never handed out twice
}

/** Whether `socket` is tracked by `coalesceWrites` (only then are its packets pooled). */
export function trackSocket(socket: Socket): void {
  if (!inFlight.has(socket)) inFlight.set(socket, []);
}

/**
 * A packet for `payloadLen` bytes of payload on `socket` with `cipher`, laid out as the cipher's
 * `allocPacket` would (payload at 5); undefined when this cipher or socket is not pooled (the
 * caller then allocates ssh2's way). The packet is counted in flight on the socket.
 */
export function takePacket(
  socket: Socket | undefined,
  cipher: Cipher,
  payloadLen: number,
): Buffer | undefined {
  const pending = socket && inFlight.get(socket);
  if (payloadLen < MIN_POOLED || !pending || socket!.destroyed) return undefined;
  if (!POOLED_CIPHERS.has(cipher.constructor.name)) return undefined;
  let byLen = layouts.get(cipher);
  if (!byLen) {
    byLen = new Map();
    layouts.set(cipher, byLen);
  }
  let layout = byLen.get(payloadLen);
  let packet: Buffer | undefined;
  if (!layout) {
    packet = cipher.allocPacket(payloadLen); // ssh2's own, used as this packet as well
    layout = { length: packet.length, head: packet.readUInt32BE(0), padLen: packet[4]! };
    if (5 + payloadLen + layout.padLen > layout.length) return undefined; // not the layout assumed
    byLen.set(payloadLen, layout);
  } else {
    const list = free.get(layout.length);
    packet = list?.pop();
    if (packet) freeCount--;
    else packet = Buffer.allocUnsafeSlow(layout.length);
    packet.writeUInt32BE(layout.head, 0);
    packet[4] = layout.padLen;
    fillPadding(packet, 5 + payloadLen, layout.padLen);
  }
  if (pending.length >= MAX_PENDING) pending.shift();
  pending.push(packet);
  return packet;
}

/**
 * `socket` has nothing left in its write queue (`writableLength` 0 right after a write): every
 * packet written to it so far was handed to the kernel, and goes back to the pool.
 */
export function flushed(socket: Socket): void {
  const pending = inFlight.get(socket);
  if (!pending || pending.length === 0) return;
  for (const packet of pending) {
    if (freeCount >= MAX_FREE) break;
    const list = free.get(packet.length) ?? [];
    free.set(packet.length, list);
    list.push(packet);
    freeCount++;
  }
  pending.length = 0;
}

/** Packets of `socket` waiting to be known flushed (tests). */
export function packetsInFlight(socket: Socket): number {
  return inFlight.get(socket)?.length ?? 0;
}

/** Buffers kept for reuse now (tests). */
export function pooledPackets(): number {
  return freeCount;
}
