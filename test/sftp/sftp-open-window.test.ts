import { createHash, randomBytes } from 'node:crypto';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import type { ClientChannel } from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processBudget } from '../../src/s3/buffer-budget.js';
import { HomeInS3, p, type SftpTestServer, sftpClient, startSftpServer, waitFor } from '../support/sftp.js';

const MiB = 1024 * 1024;
const KiB = 1024;
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/**
 * Watch the window a client channel has: every byte it sends takes from it, every WINDOW_ADJUST
 * adds. `largest` is the most it had after a top-up once `after` bytes were sent.
 */
function watchWindow(channel: unknown, after: number) {
  const out = (channel as { outgoing: { window: number } }).outgoing;
  let window = out.window;
  const seen = { opened: window, sent: 0, largest: -1, samples: 0 };
  Object.defineProperty(out, 'window', {
    configurable: true,
    get: () => window,
    set: (v: number) => {
      if (v < window) seen.sent += window - v;
      else if (seen.sent > after) {
        seen.largest = Math.max(seen.largest, v);
        seen.samples++;
      }
      window = v;
    },
  });
  return seen;
}

describe('SSH channel window at open and on scp channels (issue 9: memory)', () => {
  let server: SftpTestServer;
  let s3: HomeInS3;
  let before: number;

  beforeAll(async () => {
    server = await startSftpServer();
    s3 = new HomeInS3(server);
    before = processBudget.limit;
  });
  afterAll(async () => {
    processBudget.setLimit(before);
    await server?.close();
  });

  it('opens sftp and exec channels with at most 256 KiB of window, and grows it to 2 MiB as a lone upload sends', async () => {
    const c = await sftpClient(server, server.user);
    // After INIT/VERSION: the window the channel opened with, less the few bytes of INIT.
    expect((c.sftp as unknown as { outgoing: { window: number } }).outgoing.window).toBeLessThanOrEqual(
      256 * KiB,
    );
    const ch = await p<ClientChannel>((cb) => c.client.exec('scp -t /opened.bin', cb));
    expect((ch as unknown as { outgoing: { window: number } }).outgoing.window).toBeLessThanOrEqual(
      256 * KiB,
    );
    ch.end();

    // A lone upload with room in the budget: the window grows to ssh2's 2 MiB (no slower).
    const h = await p<Buffer>((cb) => c.sftp.open('/grown.bin', 'w', cb));
    const seen = watchWindow(c.sftp, 0);
    const body = randomBytes(12 * MiB);
    const chunk = 255 * KiB;
    const acks: Promise<void>[] = [];
    for (let at = 0; at < body.length; at += chunk)
      acks.push(p((cb) => c.sftp.write(h, body, at, Math.min(chunk, body.length - at), at, cb)));
    await Promise.all(acks);
    await p((cb) => c.sftp.close(h, cb));
    c.end();
    // The client's view: what the server granted less what was on its way (ssh2 alone: 2 MiB at open).
    expect(seen.opened).toBeLessThanOrEqual(256 * KiB);
    expect(seen.largest).toBeGreaterThan(1.25 * MiB);
    const res = await s3.client.send(
      new GetObjectCommand({ Bucket: server.conn.bucket, Key: s3.key('alice', 'grown.bin') }),
    );
    expect(sha(await res.Body!.transformToByteArray())).toBe(sha(body));
  }, 60_000);

  it('scp -t: grants at most 256 KiB of window at a time while a reservation waits, and completes once the budget frees', async () => {
    processBudget.setLimit(64 * MiB);
    const first = await processBudget.reserve(40 * MiB);
    const queued = processBudget.reserve(40 * MiB);
    expect(processBudget.waiting).toBe(true);
    const c = await sftpClient(server, server.user);
    const ch = await p<ClientChannel>((cb) => c.client.exec('scp -t /scp-window.bin', cb));
    const acks: number[] = [];
    ch.on('data', (d: Buffer) => acks.push(...d));
    const acked = (n: number) => waitFor(() => acks.length >= n, 10_000);
    await acked(1);
    const body = randomBytes(12 * MiB);
    ch.write(`C0644 ${body.length} scp-window.bin\n`);
    await acked(2);
    const seen = watchWindow(ch, 0);
    for (let at = 0; at < body.length; at += 32 * KiB) ch.write(body.subarray(at, at + 32 * KiB));
    ch.write(Buffer.from([0]));
    // The handle waits behind the queued reservation: give the client time to send what it may
    // (until nothing more went for a second). What it sent waits in the channel's stream buffer,
    // the reader and the writer: 256 KiB each at most while tight (ssh2 alone: its 2 MiB stream
    // buffer, 2 MiB of window, the reader's 4 MiB, until the charges filled an eighth: 8 MiB).
    let last = -1;
    for (let i = 0; i < 50 && seen.sent !== last; i++) {
      last = seen.sent;
      await new Promise((r) => setTimeout(r, 1000));
    }
    expect(seen.sent).toBeGreaterThan(256 * KiB);
    expect(seen.sent).toBeLessThanOrEqual(MiB + 64 * KiB);
    expect(seen.samples).toBeGreaterThan(0);
    expect(seen.largest).toBeLessThanOrEqual(256 * KiB);

    first();
    (await queued)();
    await acked(3);
    expect(acks.slice(0, 3)).toEqual([0, 0, 0]);
    ch.end();
    c.end();
    const res = await s3.client.send(
      new GetObjectCommand({ Bucket: server.conn.bucket, Key: s3.key('alice', 'scp-window.bin') }),
    );
    expect(sha(await res.Body!.transformToByteArray())).toBe(sha(body));
    await waitFor(() => processBudget.held === 0);
    expect(processBudget.held).toBe(0);
  }, 60_000);
});
