import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dataReplyStats } from '../../src/protocols/sftp/data-reply.js';
import { p, type SftpTestServer, sftpBatch, sftpClient, startSftpServer } from '../support/sftp.js';
import { OPEN_READ, packet, rawSftp, SSH_FXP, str, u32, u64 } from '../support/sftp-raw.js';

const KiB = 1024;
const MiB = 1024 * KiB;
/** What Ferry answers in limits@openssh.com: OpenSSH reads this much per READ. */
const READ = 255 * KiB;
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/**
 * DATA replies of up to 255 KiB cut into the client's 32 KiB SSH packets (data-reply.ts), and
 * replies waiting for the client's window as views of the part read ahead (`ReplyWindow`).
 */
describe('SFTP DATA replies over several SSH packets, waiting for the window', () => {
  let server: SftpTestServer;
  // Two read parts (16 MiB each) and an odd piece: some READs span the parts.
  const body = randomBytes(16 * MiB + 3 * MiB + 4321);

  beforeAll(async () => {
    server = await startSftpServer();
    const c = await sftpClient(server, server.user);
    await p((cb) => c.sftp.writeFile('/big.bin', body, cb));
    c.end();
  });
  afterAll(async () => {
    await server?.close();
  });

  it('OpenSSH get: 255 KiB READs, byte-identical, nearly every reply copied once straight into its packets (not queued in ssh2 for want of window)', async () => {
    const local = mkdtempSync(join(tmpdir(), 'ferry-data-reply-'));
    const before = { ...dataReplyStats };
    const get = await sftpBatch(server, server.user, ['get big.bin down.bin'], { cwd: local });
    expect(get.stderr).toBe('');
    expect(get.code).toBe(0);
    expect(sha(readFileSync(join(local, 'down.bin')))).toBe(sha(body));
    const direct = dataReplyStats.direct - before.direct;
    const copied = dataReplyStats.copied - before.copied;
    // ~78 replies of 255 KiB (OpenSSH asks for what limits@openssh.com says), against its 2 MiB
    // window with 64 READs (16 MiB) asked ahead: without the wait, most went ssh2's copying way.
    expect(direct + copied).toBeLessThan(Math.ceil(body.length / READ) + 16);
    expect(copied * 10).toBeLessThan(direct);
  }, 120_000);

  it('OpenSSH get with AES-GCM (packets from the pool, encrypted by ssh2 in place): byte-identical', async () => {
    for (const cipher of ['aes128-gcm@openssh.com', 'aes256-gcm@openssh.com']) {
      const local = mkdtempSync(join(tmpdir(), 'ferry-data-reply-gcm-'));
      const get = await sftpBatch(server, server.user, ['get big.bin down.bin'], {
        cwd: local,
        extra: ['-c', cipher],
      });
      expect(get.stderr).toBe('');
      expect(get.code).toBe(0);
      expect(sha(readFileSync(join(local, 'down.bin'))), cipher).toBe(sha(body));
    }
  }, 120_000);

  it('READs of odd lengths around the SSH packet boundaries and across the part boundary: every reply whole and right', async () => {
    const c = await sftpClient(server, server.user);
    const raw = await rawSftp(c.client);
    const handle = await raw.open(1, '/big.bin', OPEN_READ);
    // 32 KiB of channel data per SSH packet, 13 bytes of it the SFTP head in the first.
    const lengths = [
      1,
      13,
      32 * KiB - 14,
      32 * KiB - 13,
      32 * KiB - 12,
      64 * KiB - 13,
      64 * KiB - 12,
      READ,
      READ - 1,
    ];
    const reads: { id: number; offset: number; len: number }[] = [];
    let offset = 16 * MiB - 100 * KiB; // sequential through the end of the first part
    let id = 100;
    for (let round = 0; round < 3; round++)
      for (const len of lengths) {
        reads.push({ id: id++, offset, len });
        offset += len;
      }
    reads.push({ id: id++, offset: body.length - 7, len: READ }); // a short last read
    reads.push({ id: id++, offset: 12345, len: 3 * 32 * KiB + 5 }); // elsewhere: its own GET
    raw.ch.write(
      Buffer.concat(
        reads.map((r) => packet(SSH_FXP.READ, [u32(r.id), str(handle), u64(r.offset), u32(r.len)])),
      ),
    );
    for (const r of reads) {
      const reply = await raw.reply(r.id);
      expect(reply[0], `READ ${r.len} at ${r.offset}`).toBe(SSH_FXP.DATA);
      const data = reply.subarray(9, 9 + reply.readUInt32BE(5));
      expect(data.length, `READ ${r.len} at ${r.offset}`).toBe(Math.min(r.len, body.length - r.offset));
      if (!data.equals(body.subarray(r.offset, r.offset + data.length)))
        throw new Error(`READ ${r.len} at ${r.offset}: wrong bytes`);
    }
    c.end();
  }, 60_000);

  it('a client that stops reading for longer than a reply waits for window: every reply still comes, in order and right', async () => {
    const c = await sftpClient(server, server.user);
    const raw = await rawSftp(c.client);
    const handle = await raw.open(1, '/big.bin', OPEN_READ);
    raw.ch.pause();
    // 64 READs of 255 KiB (16 MiB asked, the window is 2 MiB): replies wait for window, then
    // (past the wait's bound) go ssh2's way, queued behind what it holds.
    const count = 64;
    const requests: Buffer[] = [];
    for (let i = 0; i < count; i++)
      requests.push(packet(SSH_FXP.READ, [u32(1000 + i), str(handle), u64(i * READ), u32(READ)]));
    const copied = dataReplyStats.copied;
    raw.ch.write(Buffer.concat(requests));
    await new Promise((r) => setTimeout(r, 2500));
    // The wait gave up after its 1 s bound (without the client granting window): later replies
    // went ssh2's way.
    expect(dataReplyStats.copied).toBeGreaterThan(copied);
    raw.ch.resume();
    for (let i = 0; i < count; i++) {
      const r = await raw.next();
      expect(r[0]).toBe(SSH_FXP.DATA);
      expect(r.readUInt32BE(1)).toBe(1000 + i);
      const data = r.subarray(9, 9 + r.readUInt32BE(5));
      if (!data.equals(body.subarray(i * READ, (i + 1) * READ))) throw new Error(`READ ${i}: wrong bytes`);
    }
    // Reading again after that: replies still whole and right.
    raw.ch.write(packet(SSH_FXP.READ, [u32(5000), str(handle), u64(count * READ), u32(READ)]));
    const last = await raw.reply(5000);
    expect(
      last.subarray(9, 9 + last.readUInt32BE(5)).equals(body.subarray(count * READ, (count + 1) * READ)),
    ).toBe(true);
    c.end();
  }, 60_000);
});
