import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  HomeInS3,
  p,
  type SftpTestServer,
  type SftpUser,
  sftpClient,
  startSftpServer,
} from '../support/sftp.js';

const MiB = 1024 * 1024;

describe('SFTP backpressure: a client that pipelines without bound is made to wait', () => {
  let server: SftpTestServer;
  let s3: HomeInS3;
  let slow: SftpUser;

  beforeAll(async () => {
    server = await startSftpServer();
    s3 = new HomeInS3(server);
    // 1 MiB/s: the session's upload bucket holds WRITEs back, so they pile up on the server.
    slow = await server.addUser('slow', { bandwidth: { uploadBytesPerSecond: MiB } });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('64 MiB of WRITEs sent at once: the server stops granting window, the rest waits in the client', async () => {
    const c = await sftpClient(server, slow);
    const h = await p<Buffer>((cb) => c.sftp.open('/flood.bin', 'w', cb));
    const chunk = randomBytes(255 * 1024);
    const total = 64 * MiB;
    for (let at = 0; at < total; at += chunk.length) c.sftp.write(h, chunk, 0, chunk.length, at, () => {});
    await new Promise((r) => setTimeout(r, 6000));
    const client = c.sftp as unknown as { _buffer: Buffer[]; outgoing: { window: number } };
    const unsent = client._buffer.reduce((n, b) => n + b.length, 0);
    // Without backpressure all 64 MiB leave the client in well under a second on loopback; with
    // it the server took its pause point (32 MiB), one window (2 MiB) and what the 1 MiB/s
    // bucket let through meanwhile (about 40 MiB in all).
    expect(client.outgoing.window).toBe(0);
    expect(unsent).toBeGreaterThan(12 * MiB);
    c.client.destroy();
    expect(await s3.multipartUploadsSettled()).toBe(0);
    expect(await s3.keys('slow')).toEqual([]);
  });
});
