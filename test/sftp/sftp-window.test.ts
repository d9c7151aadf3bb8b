import { createHash, randomBytes } from 'node:crypto';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processBudget } from '../../src/s3/buffer-budget.js';
import { HomeInS3, p, type SftpTestServer, sftpClient, startSftpServer } from '../support/sftp.js';

const MiB = 1024 * 1024;
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('SFTP channel window while transfers wait for part buffers (issue 9: memory)', () => {
  let server: SftpTestServer;
  let s3: HomeInS3;
  let before: number;

  beforeAll(async () => {
    server = await startSftpServer();
    s3 = new HomeInS3(server);
    before = processBudget.limit;
    processBudget.setLimit(64 * MiB);
  });
  afterAll(async () => {
    processBudget.setLimit(before);
    await server?.close();
  });

  it('grants at most 256 KiB of window at a time while a reservation waits, and the upload completes once the budget frees', async () => {
    // 40 of 64 MiB held and another 40 MiB waiting: the budget is tight (a reservation waits) but
    // not full (nothing charged yet), so the channel is not paused: only its window is smaller.
    const first = await processBudget.reserve(40 * MiB);
    const queued = processBudget.reserve(40 * MiB);
    expect(processBudget.waiting).toBe(true);

    const c = await sftpClient(server, server.user);
    const h = await p<Buffer>((cb) => c.sftp.open('/window.bin', 'w', cb));
    // Watch the client's window: every byte it sends takes from it, every WINDOW_ADJUST adds.
    // Once the first 2 MiB (the window granted at channel open) and 1 MiB more have gone, record
    // the window each top-up leaves (ssh2 alone tops it up to 2 MiB whenever it is at 1 MiB).
    const client = c.sftp as unknown as { _buffer: Buffer[]; outgoing: { window: number } };
    let window = client.outgoing.window;
    let sent = 0;
    let largest = -1;
    let samples = 0;
    Object.defineProperty(client.outgoing, 'window', {
      configurable: true,
      get: () => window,
      set: (v: number) => {
        if (v < window) sent += window - v;
        else if (sent > 3 * MiB) {
          largest = Math.max(largest, v);
          samples++;
        }
        window = v;
      },
    });
    const body = randomBytes(12 * MiB); // under the channel's 32 MiB pause point
    const chunk = 255 * 1024;
    const acks: Promise<void>[] = [];
    for (let at = 0; at < body.length; at += chunk) {
      const n = Math.min(chunk, body.length - at);
      acks.push(p((cb) => c.sftp.write(h, body, at, n, at, cb)));
    }
    // The handle waits behind the queued reservation; once 4 MiB (a sixteenth of the budget) are
    // charged the channel pauses. Give the client time to send what it may.
    for (let i = 0; i < 40 && sent < 6 * MiB; i++) await new Promise((r) => setTimeout(r, 100));
    expect(sent).toBeGreaterThan(4 * MiB);
    expect(samples).toBeGreaterThan(0);
    expect(largest).toBeLessThanOrEqual(256 * 1024);

    // Liveness: once the budget frees, the handle gets its buffer and every byte arrives.
    first();
    (await queued)();
    await Promise.all(acks);
    await p((cb) => c.sftp.close(h, cb));
    c.client.end();
    const res = await s3.client.send(
      new GetObjectCommand({ Bucket: server.conn.bucket, Key: s3.key('alice', 'window.bin') }),
    );
    expect(sha(await res.Body!.transformToByteArray())).toBe(sha(body));
    expect(processBudget.held).toBe(0);
  }, 60_000);
});
