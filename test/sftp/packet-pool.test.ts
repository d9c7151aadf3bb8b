import { randomBytes, randomFillSync } from 'node:crypto';
import { createRequire } from 'node:module';
import { createServer, type Socket, connect as tcpConnect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { packetsInFlight, pooledPackets, takePacket } from '../../src/protocols/sftp/packet-pool.js';
import { coalesceWrites } from '../../src/protocols/sftp/socket-writes.js';

const require = createRequire(import.meta.url);
/** ssh2's ciphers, as its transport makes them. */
const { CIPHER_INFO, createCipher } = require('ssh2/lib/protocol/crypto.js') as {
  CIPHER_INFO: Record<string, { keyLen: number; ivLen: number }>;
  createCipher(config: unknown): { allocPacket(payloadLen: number): Buffer };
};

/** Lays packets out as ssh2 1.17's ChaChaPolyCipherBinding.allocPacket (crypto.js), by name too. */
class ChaChaPolyCipherBinding {
  allocPacket(payloadLen: number): Buffer {
    let pktLen = 4 + 1 + payloadLen;
    let padLen = 8 - ((pktLen - 4) & 7);
    if (padLen < 4) padLen += 8;
    pktLen += padLen;
    const packet = Buffer.allocUnsafe(pktLen + 16);
    packet.writeUInt32BE(pktLen - 4, 0);
    packet[4] = padLen;
    randomFillSync(packet, 5 + payloadLen, padLen);
    return packet;
  }
}

const PAYLOAD = 32 * 1024 - 4;
const tick = () => new Promise((r) => setImmediate(r));
const closers: (() => void)[] = [];
afterEach(() => {
  for (const c of closers.splice(0)) c();
});

/** A TCP connection on loopback: the sending side (with coalesceWrites) and the receiving side, paused. */
async function pair(): Promise<{ out: Socket; inn: Socket }> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const accepted = new Promise<Socket>((r) => server.once('connection', r));
  const out = tcpConnect((server.address() as { port: number }).port, '127.0.0.1');
  await new Promise((r) => out.once('connect', r));
  const inn = await accepted;
  inn.pause();
  coalesceWrites(out);
  closers.push(() => {
    out.destroy();
    inn.destroy();
    server.close();
  });
  return { out, inn };
}

/** A packet from the pool with its payload set to the 4-byte number `n` over and over. */
function packetOf(out: Socket, cipher: ChaChaPolyCipherBinding, n: number): Buffer {
  const packet = takePacket(out, cipher, PAYLOAD);
  if (!packet) throw new Error('not pooled');
  for (let p = 5; p + 4 <= 5 + PAYLOAD; p += 4) packet.writeUInt32BE(n, p);
  return packet;
}

describe('SFTP DATA packets reused (packet-pool.ts)', () => {
  it('never hands out a packet the socket still holds in its write queue; every byte arrives as written', async () => {
    const { out, inn } = await pair();
    const cipher = new ChaChaPolyCipherBinding();
    const written: Buffer[] = [];
    const sent: number[] = [];
    // Write until the kernel takes no more (the receiver reads nothing): later writes queue in Node.
    let n = 0;
    while (out.writableLength === 0 && n < 4000) {
      const packet = packetOf(out, cipher, n);
      out.write(packet);
      written.push(packet);
      sent.push(n++);
      await tick();
    }
    expect(out.writableLength).toBeGreaterThan(0);
    // More packets while the queue is not empty: none of them is one still queued (or written).
    for (let i = 0; i < 200; i++) {
      const packet = packetOf(out, cipher, n);
      expect(written.includes(packet)).toBe(false);
      out.write(packet);
      written.push(packet);
      sent.push(n++);
      if (i % 10 === 9) await tick();
    }
    // Read all: each packet's payload is the number it was written with, in order.
    inn.resume();
    const chunks: Buffer[] = [];
    let got = 0;
    const total = written.reduce((s, p) => s + p.length, 0);
    await new Promise<void>((resolve) => {
      inn.on('data', (d: Buffer) => {
        chunks.push(d);
        got += d.length;
        if (got >= total) resolve();
      });
    });
    const all = Buffer.concat(chunks);
    let at = 0;
    for (const [i, packet] of written.entries()) {
      expect(all.readUInt32BE(at + 5), `packet ${i}`).toBe(sent[i]);
      expect(all.readUInt32BE(at + 5 + PAYLOAD - 4), `packet ${i}, end`).toBe(sent[i]);
      at += packet.length;
    }
  });

  it("ssh2's own AEAD ciphers are pooled: chacha20-poly1305 and AES-GCM (ssh2's binding when it has one)", async () => {
    const { out, inn } = await pair();
    inn.resume();
    for (const name of [
      'chacha20-poly1305@openssh.com',
      'aes128-gcm@openssh.com',
      'aes256-gcm@openssh.com',
    ]) {
      const cipherInfo = CIPHER_INFO[name]!;
      const cipher = createCipher({
        outbound: {
          onWrite: () => {},
          cipherInfo,
          cipherKey: randomBytes(cipherInfo.keyLen),
          cipherIV: randomBytes(cipherInfo.ivLen),
          seqno: 0,
        },
      });
      const first = takePacket(out, cipher, PAYLOAD); // the layout's first: ssh2's own allocation
      const second = takePacket(out, cipher, PAYLOAD);
      expect(first, `${name} (${cipher.constructor.name})`).toBeDefined();
      expect(second?.length, name).toBe(first!.length);
    }
  });

  it('reuses a packet once its socket flushed it; padding is fresh in every packet', async () => {
    const { out, inn } = await pair();
    inn.resume();
    const cipher = new ChaChaPolyCipherBinding();
    const first = packetOf(out, cipher, 1); // the layout's first: ssh2's own allocation
    out.write(first);
    await tick();
    const second = packetOf(out, cipher, 2);
    out.write(second);
    await tick();
    expect(pooledPackets()).toBeGreaterThan(0);
    const third = packetOf(out, cipher, 3);
    expect([first, second]).toContain(third);
    const padLen = third[4]!;
    const pads = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const p = packetOf(out, cipher, i);
      pads.add(p.subarray(5 + PAYLOAD, 5 + PAYLOAD + padLen).toString('hex'));
      out.write(p);
      await tick();
    }
    expect(pads.size).toBe(50);
  });

  it('a socket whose queue never empties keeps at most 64 packets tracked; once it drains they are reused', async () => {
    const { out, inn } = await pair();
    const cipher = new ChaChaPolyCipherBinding();
    let n = 0;
    while (out.writableLength === 0 && n < 4000) {
      out.write(packetOf(out, cipher, n++));
      await tick();
    }
    for (let i = 0; i < 300; i++) {
      out.write(packetOf(out, cipher, n++));
      if (i % 10 === 9) await tick();
    }
    expect(out.writableLength).toBeGreaterThan(0);
    expect(packetsInFlight(out)).toBeLessThanOrEqual(64);
    const last = packetOf(out, cipher, n++);
    out.write(last);
    const drained = new Promise((r) => out.once('drain', r));
    inn.resume();
    await drained;
    await tick();
    expect(packetsInFlight(out)).toBe(0);
    expect(pooledPackets()).toBeGreaterThan(0);
  });
});
