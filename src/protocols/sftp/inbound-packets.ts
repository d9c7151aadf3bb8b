import type { SFTPWrapper } from 'ssh2';

/**
 * Big SFTP packets (WRITEs) assembled in reused buffers instead of a new one each.
 *
 * ssh2's SFTP parser gathers a packet that spans several channel-data chunks into a fresh
 * `Buffer.allocUnsafe(length)`: OpenSSH writes 255 KiB per WRITE, carried in ~32 KiB SSH packets,
 * so every WRITE left a 255 KiB buffer to the GC once its bytes were copied into the part buffer.
 * Under 20 concurrent uploads these waited for a collection by the tens of MiB, outside the
 * buffer budget (docs/notes/issue-9.md, "Session 4: memory"). Here the chunks are framed first:
 * a packet wholly inside a chunk goes to ssh2 as a view of it (ssh2 then copies nothing either);
 * a big packet spanning chunks is gathered into a buffer from `packetPool` and handed to ssh2
 * whole. ssh2 parses a whole packet in place, so the WRITE's `data` is
 * a view of that buffer: the WRITE handler `claim`s it and gives it back once its handle has taken
 * the bytes (the write handle contract: bytes may be reused once `write` resolves). A packet no one
 * claims (not a WRITE, or a refused one) is left to the GC, as before.
 *
 * Works on ssh2 1.17's SFTP internals (`push`, as wire.ts); test/sftp/sftp-memory.test.ts checks
 * that WRITE buffers are reused.
 */
/** ssh2's limit on an incoming SFTP packet (OPENSSH_MAX_PKT_LEN); longer ones are its error. */
const MAX_PACKET = 256 * 1024;
/** Spanning packets at least this long are gathered in reused buffers; smaller ones in new ones. */
const REUSE_FROM = 64 * 1024;
/** Every reused buffer has this size (length prefix + the longest packet), so any can serve. */
const REUSED_SIZE = 4 + MAX_PACKET;
/**
 * Free buffers kept, process-wide (8 MiB). The ones in use hold WRITE bytes, which are charged to
 * the buffer budget; the free ones are the only memory here outside it. (Keeping them in the
 * budget's kept buffers was tried: with the budget spent by part buffers they were trimmed, and
 * 6,121 of 15,320 WRITEs still took a new buffer.)
 */
const POOL_MAX = 32;
/** Free buffers are let go after this long without a packet gathered. */
const POOL_IDLE_MS = 5000;

/** The reused packet buffers (free ones), and counts for tests and benches. */
export const packetPool = {
  free: [] as Buffer[],
  /** Packets gathered in a pool buffer; of them, in a new one; buffers given back. */
  stats: { gathered: 0, fresh: 0, givenBack: 0 },
  idle: undefined as NodeJS.Timeout | undefined,
  lastTake: 0,
  take(): Buffer {
    this.stats.gathered++;
    this.lastTake = Date.now();
    if (!this.idle) this.watchIdle();
    const buf = this.free.pop();
    if (buf) return buf;
    this.stats.fresh++;
    return Buffer.allocUnsafe(REUSED_SIZE);
  },
  watchIdle(): void {
    this.idle = setTimeout(() => {
      this.idle = undefined;
      if (Date.now() - this.lastTake >= POOL_IDLE_MS) this.free.length = 0;
      else this.watchIdle();
    }, POOL_IDLE_MS).unref();
  },
  give(buf: Buffer): void {
    this.stats.givenBack++;
    if (this.free.length < POOL_MAX) this.free.push(buf);
  },
};

export interface InboundPackets {
  /**
   * `data` (a WRITE's bytes, during ssh2's WRITE event) lies in a reused packet buffer: returns
   * the function that gives that buffer back (call it once nothing reads `data` any more).
   * Undefined otherwise, or when already claimed.
   */
  claim(data: Uint8Array): (() => void) | undefined;
}

interface Parser {
  push(data: Buffer | null): unknown;
}

export function frameInboundPackets(sftp: SFTPWrapper): InboundPackets {
  const s = sftp as unknown as Parser;
  const push = s.push.bind(s);
  const header = Buffer.alloc(4);
  let headerHave = 0;
  /** The packet being gathered (length prefix included), and how much of it has come. */
  let packet: Buffer | undefined;
  let have = 0;
  /** Whether `packet` came from the pool (its whole buffer is `pooled`). */
  let pooled: Buffer | undefined;
  /** During ssh2's parse of a gathered packet: its reused buffer, until claimed. */
  let delivering: Buffer | undefined;
  let passThrough = false;

  const start = (length: number): void => {
    if (length >= REUSE_FROM) {
      pooled = packetPool.take();
      packet = pooled.subarray(0, 4 + length);
    } else packet = Buffer.allocUnsafe(4 + length);
    packet.writeUInt32BE(length, 0);
    have = 4;
  };

  const deliver = (): unknown => {
    const whole = packet!;
    delivering = pooled;
    packet = undefined;
    pooled = undefined;
    try {
      return push(whole);
    } finally {
      delivering = undefined;
    }
  };

  /** A length ssh2 refuses: let it see the bytes as they came, and stop framing. */
  const refuse = (rest: Buffer): unknown => {
    passThrough = true;
    const head = Buffer.from(header.subarray(0, headerHave));
    headerHave = 0;
    return push(head.length > 0 ? Buffer.concat([head, rest]) : rest);
  };

  s.push = (data: Buffer | null): unknown => {
    if (passThrough || data === null) {
      if (data === null) {
        packet = undefined;
        pooled = undefined;
      }
      return push(data);
    }
    let result: unknown;
    let p = 0;
    while (p < data.length) {
      if (packet) {
        const n = Math.min(packet.length - have, data.length - p);
        data.copy(packet, have, p, p + n);
        have += n;
        p += n;
        if (have === packet.length) result = deliver();
        continue;
      }
      if (headerHave > 0 || data.length - p < 4) {
        const n = Math.min(4 - headerHave, data.length - p);
        data.copy(header, headerHave, p, p + n);
        headerHave += n;
        p += n;
        if (headerHave < 4) break;
        const length = header.readUInt32BE(0);
        if (length === 0 || length > MAX_PACKET) return refuse(data.subarray(p));
        headerHave = 0;
        start(length);
        continue;
      }
      // Whole packets inside this chunk go as one view; a packet running past it is gathered.
      let q = p;
      while (data.length - q >= 4) {
        const length = data.readUInt32BE(q);
        if (length === 0 || length > MAX_PACKET) {
          if (q > p) result = push(data.subarray(p, q));
          return refuse(data.subarray(q));
        }
        if (data.length - q < 4 + length) break;
        q += 4 + length;
      }
      if (q > p) {
        result = push(p === 0 && q === data.length ? data : data.subarray(p, q));
        p = q;
        continue;
      }
      start(data.readUInt32BE(p));
      p += 4;
    }
    return result;
  };

  return {
    claim(data: Uint8Array) {
      const buffer = delivering;
      if (!buffer || data.buffer !== buffer.buffer) return undefined;
      delivering = undefined;
      let given = false;
      return () => {
        if (given) return;
        given = true;
        packetPool.give(buffer);
      };
    },
  };
}
