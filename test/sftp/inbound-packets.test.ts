import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inboundPackets } from '../../src/protocols/sftp/inbound-packets.js';
import { socketReads } from '../../src/protocols/sftp/socket-reads.js';
import { p, type SftpTestServer, sftpBatch, sftpClient, startSftpServer } from '../support/sftp.js';

const MiB = 1024 * 1024;
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/**
 * Decrypted SSH packets (src/protocols/sftp/inbound-packets.ts): an upload's packets that straddle
 * two socket reads are joined in one buffer per connection instead of a new one each (they were
 * 30–37 MiB of garbage awaiting the GC with 20 uploads), and only when every byte was copied out.
 */
describe('SFTP: decrypted packet buffers reused', () => {
  let server: SftpTestServer;
  let dir: string;
  beforeAll(async () => {
    server = await startSftpServer({ flags: { storage: mkdtempSync(join(tmpdir(), 'ferry-inpkt-home-')) } });
    dir = mkdtempSync(join(tmpdir(), 'ferry-inpkt-'));
  });
  afterAll(async () => {
    await server?.close();
  });

  it("ssh2's deciphers still join a straddling packet the way inbound-packets.ts relies on", () => {
    const require = createRequire(import.meta.url);
    const src = readFileSync(require.resolve('ssh2/lib/protocol/crypto.js'), 'utf8');
    expect(src).toContain('const MAX_PACKET_SIZE = 35000;');
    for (const cls of ['ChaChaPolyDecipherBinding', 'AESGCMDecipherBinding']) {
      const body = src.slice(
        src.indexOf(`class ${cls} {`),
        src.indexOf('\nclass ', src.indexOf(`class ${cls} {`) + 1),
      );
      expect(body, cls).toMatch(/if \(!this\._packet\)\s+this\._packet = Buffer\.allocUnsafe\(this\._len\);/);
      expect(body.match(/this\._packet\b/g)?.length, cls).toBe(11); // no other use crept in
      expect(body, cls).toContain('const ret = this._onPayload(payload);');
    }
  });

  it('uploads (chacha and aes-gcm, rekey every 1 MiB, small WRITEs lent as views) allocate no packet per straddle nor buffer per socket read, and are byte-identical', async () => {
    const cases = [
      { cipher: 'chacha20-poly1305@openssh.com', extra: [] as string[] },
      { cipher: 'aes128-gcm@openssh.com', extra: [] as string[] },
      // 8 KiB WRITEs: each in one SSH packet, lent to the handle as a view (its buffer not reused).
      { cipher: 'chacha20-poly1305@openssh.com', extra: ['-B', '8192'] },
    ];
    const original = Buffer.allocUnsafe;
    let joined = 0;
    Buffer.allocUnsafe = ((n: number) => {
      // Called by the decipher itself (the handlers below it allocate too: join and part buffers).
      if (n >= 16 * 1024 && new Error().stack?.split('\n')[2]?.includes('DecipherBinding.decrypt')) joined++;
      return original(n);
    }) as typeof Buffer.allocUnsafe;
    try {
      for (const [i, c] of cases.entries()) {
        const body = randomBytes(16 * MiB + 1234 * i);
        writeFileSync(join(dir, `up-${i}.bin`), body);
        joined = 0;
        const reads = { ...socketReads };
        const options = { cwd: dir, extra: ['-o', 'RekeyLimit=1M', '-c', c.cipher, ...c.extra] };
        const put = await sftpBatch(server, server.user, [`put up-${i}.bin f-${i}.bin`], options);
        expect(put.stderr, c.cipher).toBe('');
        const inPlace = socketReads.inPlace - reads.inPlace;
        const copied = socketReads.copied - reads.copied;
        const fresh = socketReads.fresh - reads.fresh;
        const get = await sftpBatch(server, server.user, [`get f-${i}.bin down-${i}.bin`], options);
        expect(get.stderr, c.cipher).toBe('');
        expect(sha(readFileSync(join(dir, `down-${i}.bin`))), `${c.cipher} ${c.extra}`).toBe(sha(body));
        if (c.extra.length > 0) continue;
        // 16 MiB is ~520 packets of 32 KiB, about a third straddling two socket reads (319 joined in
        // new buffers before). A spare let go is replaced by allocUnsafeSlow (not counted here).
        expect(joined, c.cipher).toBeLessThanOrEqual(2);
        // The socket's reads (≥ 256 of them) land in one buffer: parsed in place, a new buffer
        // only after a read of which a view was kept (the key exchanges of every rekey, OPEN,
        // CLOSE: requests ssh2 parses). Before: a new buffer per read, none in place.
        expect(inPlace, `${c.cipher}: ${inPlace} in place, ${copied} copied, ${fresh} new`).toBeGreaterThan(
          2 * (copied + fresh),
        );
        expect(inPlace, c.cipher).toBeGreaterThan(100);
      }
    } finally {
      Buffer.allocUnsafe = original;
    }
  }, 120_000);

  it('an upload whose packets arrive cut before their MAC (a view of the read kept by the decipher) is byte-identical', async () => {
    // AES-GCM sends each packet's length in clear, so a relay can cut the client's stream where
    // it likes: every packet after NEWKEYS goes on in two or three writes, one turn of the event
    // loop apart (the server, in this process, reads each alone): its length and body (every
    // third one cut in the middle of its body too: joined in the spare), then its 16-byte tag.
    // A read then ends with a packet whole but for its tag: the decipher keeps a view of that
    // read until the next one, so its buffer must not take the next read.
    const relay = net.createServer((client) => {
      const upstream = net.connect({ port: server.port, host: server.host });
      for (const s of [client, upstream]) s.on('error', () => {});
      upstream.pipe(client);
      let pending = Buffer.alloc(0);
      let identDone = false;
      let encrypted = false;
      let packets = 0;
      let queue = Promise.resolve();
      const send = async (bytes: Buffer) => {
        if (!upstream.write(bytes)) await new Promise((r) => upstream.once('drain', r));
        await new Promise((r) => setImmediate(r));
      };
      client.on('data', (chunk: Buffer) => {
        pending = Buffer.concat([pending, chunk]);
        const pieces: Buffer[] = [];
        for (;;) {
          if (!identDone) {
            const nl = pending.indexOf('\n');
            if (nl < 0) break;
            identDone = true;
            pieces.push(pending.subarray(0, nl + 1));
            pending = pending.subarray(nl + 1);
            continue;
          }
          if (pending.length < 4) break;
          const len = pending.readUInt32BE(0);
          const whole = 4 + len + (encrypted ? 16 : 0);
          if (pending.length < whole) break;
          const packet = pending.subarray(0, whole);
          pending = pending.subarray(whole);
          if (!encrypted) {
            pieces.push(packet);
            if (packet[5] === 21) encrypted = true; // NEWKEYS: what follows is encrypted
            continue;
          }
          if (++packets % 3 === 0)
            pieces.push(packet.subarray(0, 4 + (len >> 1)), packet.subarray(4 + (len >> 1), 4 + len));
          else pieces.push(packet.subarray(0, 4 + len));
          pieces.push(packet.subarray(4 + len));
        }
        queue = queue.then(async () => {
          for (const piece of pieces) await send(piece);
        });
      });
      client.on('end', () => void queue.then(() => upstream.end()));
      client.on('close', () => upstream.destroy());
    });
    await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
    try {
      const port = (relay.address() as net.AddressInfo).port;
      const body = randomBytes(6 * MiB + 77);
      writeFileSync(join(dir, 'cut.bin'), body);
      const held = inboundPackets.heldOver;
      const options = { cwd: dir, extra: ['-c', 'aes128-gcm@openssh.com'] };
      const put = await sftpBatch({ ...server, port }, server.user, ['put cut.bin cut.bin'], options);
      expect(put.stderr).toBe('');
      const get = await sftpBatch(server, server.user, ['get cut.bin cut-down.bin'], options);
      expect(get.stderr).toBe('');
      expect(sha(readFileSync(join(dir, 'cut-down.bin')))).toBe(sha(body));
      // The case this is about happened (11 of ~200 packets when written: the server's reads
      // do not always fall between the relay's writes).
      expect(inboundPackets.heldOver - held).toBeGreaterThan(0);
    } finally {
      await new Promise((r) => relay.close(r));
    }
  }, 180_000);

  it("a connection's read buffer shrinks to 4 KiB once it idles and grows back for the next upload", async () => {
    const c = await sftpClient(server, server.user);
    try {
      const put = async (name: string, body: Buffer) => {
        const h = await p<Buffer>((cb) => c.sftp.open(name, 'w', cb));
        const chunk = 32 * 1024;
        await Promise.all(
          Array.from({ length: Math.ceil(body.length / chunk) }, (_, i) =>
            p((cb) =>
              c.sftp.write(h, body, i * chunk, Math.min(chunk, body.length - i * chunk), i * chunk, cb),
            ),
          ),
        );
        await p((cb) => c.sftp.close(h, cb));
      };
      const a = randomBytes(4 * MiB + 3);
      await put('/grow-a.bin', a);
      // Small requests only: each read is short, the buffer is 4 KiB.
      for (let i = 0; i < 3; i++) await p<unknown>((cb) => c.sftp.stat('/grow-a.bin', cb));
      expect(socketReads.nextSize).toBe(4 * 1024);
      const before = { ...socketReads };
      const b = randomBytes(4 * MiB + 5);
      await put('/grow-b.bin', b);
      // Grown back at the first read that filled the 4 KiB: 4 MiB in reads of up to 64 KiB, not
      // ~1,000 of 4 KiB; parsed in place.
      const reads = socketReads.inPlace - before.inPlace;
      expect(socketReads.resized - before.resized).toBeGreaterThanOrEqual(1);
      expect(reads).toBeGreaterThan(40);
      expect(reads).toBeLessThan(400);
      for (const [name, body] of [
        ['/grow-a.bin', a],
        ['/grow-b.bin', b],
      ] as const) {
        const got = await p<Buffer>((cb) => c.sftp.readFile(name, cb));
        expect(sha(got), name).toBe(sha(body));
      }
    } finally {
      c.client.end();
    }
  }, 60_000);
});
