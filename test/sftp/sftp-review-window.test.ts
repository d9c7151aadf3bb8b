import { randomBytes } from 'node:crypto';
import type { ClientChannel } from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processBudget } from '../../src/s3/buffer-budget.js';
import {
  HomeInS3,
  p,
  type SftpTestServer,
  type SftpUser,
  sftpClient,
  startSftpServer,
  waitFor,
} from '../support/sftp.js';

const MiB = 1024 * 1024;

describe('SFTP review: a client that sends past the channel window it was given', () => {
  let server: SftpTestServer;
  let s3: HomeInS3;
  let slow: SftpUser;

  beforeAll(async () => {
    server = await startSftpServer();
    s3 = new HomeInS3(server);
    // 1 MiB/s: WRITEs wait on the server, so what the client sends piles up there.
    slow = await server.addUser('slow', { bandwidth: { uploadBytesPerSecond: MiB } });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('64 MiB of WRITEs sent ignoring the window: the channel is closed, not buffered without bound', async () => {
    const c = await sftpClient(server, slow);
    const h = await p<Buffer>((cb) => c.sftp.open('/flood.bin', 'w', cb));
    let closed = false;
    c.sftp.on('close', () => {
      closed = true;
    });
    // The client acts as if the server had granted it 4 GiB of window (ssh2's server only checks
    // for a window of exactly 0, so every byte was taken: pause points and budget were moot).
    (c.sftp as unknown as { outgoing: { window: number } }).outgoing.window = 2 ** 32 - 1;
    const charged = processBudget.chargedPeak;
    processBudget.chargedPeak = 0;
    const chunk = randomBytes(255 * 1024);
    for (let at = 0; at < 64 * MiB; at += chunk.length) c.sftp.write(h, chunk, 0, chunk.length, at, () => {});
    await waitFor(() => closed, 15_000);
    expect(closed).toBe(true);
    // Nothing past the pause point (32 MiB of WRITEs waiting), the window it gave (2 MiB) and a
    // packet was taken in (before: all 64 MiB).
    expect(processBudget.chargedPeak).toBeLessThanOrEqual(35 * MiB);
    processBudget.chargedPeak = Math.max(charged, processBudget.chargedPeak);
    c.client.destroy();
    expect(await s3.multipartUploadsSettled()).toBe(0);
    expect(await s3.keys('slow')).toEqual([]);
  }, 60_000);

  it('scp -t (legacy protocol) with 64 MiB sent ignoring the window: the channel is closed, no object, no upload', async () => {
    const c = await sftpClient(server, slow);
    const ch = await p<ClientChannel>((cb) => c.client.exec('scp -t /flood2.bin', cb));
    let closed = false;
    ch.on('close', () => {
      closed = true;
    });
    const acks: number[] = [];
    const acked = (n: number) => waitFor(() => acks.length >= n, 10_000);
    ch.on('data', (d: Buffer) => acks.push(...d));
    await acked(1); // ready
    const size = 64 * MiB;
    ch.write(`C0644 ${size} flood2.bin\n`);
    await acked(2); // the file is open
    (ch as unknown as { outgoing: { window: number } }).outgoing.window = 2 ** 32 - 1;
    // Packets of 32767 bytes: the window never lands on exactly 0 (ssh2 drops data only then) but
    // goes below it, and from there ssh2 takes everything.
    const chunk = randomBytes(32767);
    for (let at = 0; at < size; at += chunk.length)
      ch.write(chunk.subarray(0, Math.min(chunk.length, size - at)));
    // Before, the server buffered all 64 MiB in the channel and went on at 1 MiB/s.
    await waitFor(() => closed, 15_000);
    expect(closed).toBe(true);
    c.client.destroy();
    expect(await s3.multipartUploadsSettled()).toBe(0);
    expect(await s3.keys('slow')).toEqual([]);
  }, 60_000);
});
