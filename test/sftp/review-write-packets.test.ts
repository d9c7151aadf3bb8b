import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processBudget } from '../../src/s3/buffer-budget.js';
import {
  HomeInS3,
  p,
  type SftpTestServer,
  type SftpUser,
  sftpClient,
  startSftpServer,
} from '../support/sftp.js';
import {
  OPEN_READ,
  OPEN_WRITE_CREAT_TRUNC,
  packet,
  rawSftp,
  SSH_FXP,
  str,
  u32,
  u64,
  write,
} from '../support/sftp-raw.js';

/**
 * Attacker's review of the WRITE interceptor (src/protocols/sftp/write-packets.ts): a WRITE whose
 * data does not come in the SSH packet of its head is joined in a buffer of its own. That buffer
 * must be about the size of the WRITE's data, not the largest packet: else a client sending tiny
 * WRITEs split across SSH packets makes the server hold 256 KiB per ~30 bytes of channel window
 * (the window and the budget count the data, not the buffers), thousands of times what it sent.
 */

const KiB = 1024;
const MiB = 1024 * KiB;

describe('review: SFTP WRITE interceptor, memory per split WRITE', () => {
  let server: SftpTestServer;
  let slow: SftpUser;

  beforeAll(async () => {
    server = await startSftpServer();
    // 1 KiB/s: one WRITE past the 16 KiB burst holds every later WRITE of the handle in its queue.
    slow = await server.addUser('slow', { bandwidth: { uploadBytesPerSecond: KiB } });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('1,000 one-byte WRITEs, each data byte in its own SSH packet, held by the handle: the server holds about what was sent, not 256 KiB each', async () => {
    const client = await sftpClient(server, slow);
    try {
      const raw = await rawSftp(client.client);
      const handle = await raw.open(1, '/split.bin');

      // 28 KiB: 12 KiB past the burst, so the bucket is in debt for ~12 s and the WRITEs below
      // wait in the handle's queue, each holding the buffer its data was joined in.
      const first = randomBytes(28 * KiB);
      raw.send(write(10, handle, 0, first));
      const n = 1000;
      const tail = randomBytes(n);
      const before = process.memoryUsage().arrayBuffers;
      for (let i = 0; i < n; i++) {
        const w = write(100 + i, handle, first.length + i, tail.subarray(i, i + 1));
        raw.send(w.subarray(0, w.length - 1), w.subarray(w.length - 1));
      }
      // Its answer means the server parsed every byte before it.
      raw.send(packet(SSH_FXP.REALPATH, [u32(5), str('/')]));
      expect((await raw.reply(5))[0]).toBe(SSH_FXP.NAME);
      const grew = process.memoryUsage().arrayBuffers - before;
      // ~30 bytes of window per WRITE; 256 KiB each would be 250 MiB.
      expect(grew).toBeLessThan(32 * MiB);

      await raw.ok(10);
      for (let i = 0; i < n; i++) await raw.ok(100 + i);
      raw.send(packet(SSH_FXP.CLOSE, [u32(6), str(handle)]));
      await raw.ok(6);
      const got = await p<Buffer>((cb) => client.sftp.readFile('/split.bin', cb));
      const want = Buffer.concat([first, tail]);
      expect(createHash('sha256').update(got).digest('hex')).toBe(
        createHash('sha256').update(want).digest('hex'),
      );
      await p((cb) => client.sftp.unlink('/split.bin', cb));
      raw.ch.end();
    } finally {
      client.end();
    }
  }, 120_000);

  it('WRITEs to a read handle, a folder handle, a handle of odd length and one never opened, in one SSH packet with READs: each refused, the READs answered, nothing stored', async () => {
    const client = await sftpClient(server, server.user);
    try {
      await p((cb) => client.sftp.writeFile('/src.bin', Buffer.from('0123456789'), cb));
      const raw = await rawSftp(client.client);
      const rh = await raw.open(1, '/src.bin', OPEN_READ);
      const dh = await raw.handle(2, SSH_FXP.OPENDIR, [str('/')]);
      const data = randomBytes(1000);
      raw.send(
        Buffer.concat([
          write(10, rh, 0, data),
          packet(SSH_FXP.READ, [u32(11), str(rh), u64(2), u32(4)]),
          write(12, dh, 0, data),
          write(13, Buffer.from('abc'), 0, data),
          packet(SSH_FXP.READ, [u32(14), str(rh), u64(0), u32(3)]),
          write(15, Buffer.alloc(256, 7), 0, data),
        ]),
      );
      for (const id of [10, 12, 13, 15]) await raw.failed(id);
      const r11 = await raw.reply(11);
      expect([r11[0], r11.subarray(9).toString()]).toEqual([SSH_FXP.DATA, '2345']);
      const r14 = await raw.reply(14);
      expect([r14[0], r14.subarray(9).toString()]).toEqual([SSH_FXP.DATA, '012']);
      // The channel still works, and the file is as it was.
      raw.send(packet(SSH_FXP.CLOSE, [u32(16), str(rh)]));
      await raw.ok(16);
      expect((await p<Buffer>((cb) => client.sftp.readFile('/src.bin', cb))).toString()).toBe('0123456789');
      await p((cb) => client.sftp.unlink('/src.bin', cb));
      raw.ch.end();
    } finally {
      client.end();
    }
  }, 120_000);

  it('a client gone mid-WRITE (its data half sent, part of a multipart upload out): no object, no multipart upload left', async () => {
    const s3 = new HomeInS3(server);
    const client = await sftpClient(server, server.user);
    const raw = await rawSftp(client.client);
    const h = await raw.open(1, '/gone.bin');
    const piece = randomBytes(255 * KiB);
    const n = 80; // ~20 MiB: past the first part
    for (let i = 0; i < n; i++) raw.send(write(100 + i, h, i * piece.length, piece));
    for (let i = 0; i < n; i++) await raw.ok(100 + i);
    // The next WRITE: its head and half its data, then the connection drops.
    const w = write(999, h, n * piece.length, piece);
    raw.send(w.subarray(0, 40), w.subarray(40, w.length >> 1));
    await new Promise((r) => setTimeout(r, 200));
    expect(await s3.multipartUploads()).toBe(1);
    client.client.destroy();
    expect(await s3.multipartUploadsSettled()).toBe(0);
    expect(await s3.keys(server.user.username)).not.toContain('gone.bin');
  }, 120_000);
  it('a malformed STAT fails the channel: the WRITEs and the CLOSE after it (same SSH packet, and the next) reach no handle; the upload is aborted', async () => {
    const s3 = new HomeInS3(server);
    const client = await sftpClient(server, server.user);
    // Every WRITE that reaches a handle is charged to the process budget first (sftp.ts `write`):
    // the lengths charged tell which WRITEs got through.
    const charged: number[] = [];
    const charge = processBudget.charge.bind(processBudget);
    processBudget.charge = (bytes: number) => {
      charged.push(bytes);
      return charge(bytes);
    };
    try {
      const raw = await rawSftp(client.client);
      const h = await raw.handle(1, SSH_FXP.OPEN, [str('/failed.bin'), u32(OPEN_WRITE_CREAT_TRUNC), u32(0)]);
      const piece = randomBytes(255 * KiB);
      const n = 80; // ~20 MiB: past the first part, a multipart upload is under way
      for (let i = 0; i < n; i++) raw.send(write(100 + i, h, i * piece.length, piece));
      for (let i = 0; i < n; i++) await raw.ok(100 + i);
      expect(await s3.multipartUploads()).toBe(1);
      const closed = new Promise<void>((resolve) => raw.ch.once('close', () => resolve()));
      // A STAT whose path runs past its packet (ssh2: "Malformed STAT packet", a fatal error that
      // closes the channel), then in the same SSH packet a WRITE of 12,345 bytes and a CLOSE, and
      // in the next one a WRITE of 23,456 bytes.
      const at = n * piece.length;
      raw.send(
        Buffer.concat([
          packet(SSH_FXP.STAT, [u32(2), u32(1000)]),
          write(500, h, at, randomBytes(12_345)),
          packet(SSH_FXP.CLOSE, [u32(3), str(h)]),
        ]),
        write(501, h, at + 12_345, randomBytes(23_456)),
      );
      await closed;
      let left = -1;
      for (let i = 0; i < 100; i++) {
        left = await s3.multipartUploads();
        if (left === 0) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(charged).not.toContain(12_345);
      expect(charged).not.toContain(23_456);
      expect(left).toBe(0);
      expect(await s3.keys(server.user.username)).not.toContain('failed.bin');
    } finally {
      processBudget.charge = charge;
      client.end();
    }
  }, 120_000);
});
