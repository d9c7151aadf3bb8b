import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { GetObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import type { SFTPWrapper } from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processBudget } from '../../src/s3/buffer-budget.js';
import { partSpills } from '../../src/storage/s3/part-spill.js';
import { HomeInS3, p, type SftpTestServer, sftpClient, startSftpServer } from '../support/sftp.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/**
 * Write `body` from `from` on through an open handle as a client library does (ssh2's fastPut):
 * 64 WRITEs of 32 KiB in flight.
 */
async function writeAll(sftp: SFTPWrapper, handle: Buffer, body: Buffer, from = 0): Promise<void> {
  const chunk = 32 * KiB;
  let next = from;
  const one = async (): Promise<void> => {
    while (next < body.length) {
      const at = next;
      next += chunk;
      const n = Math.min(chunk, body.length - at);
      await p((cb) => sftp.write(handle, body, at, n, at, cb));
    }
  };
  await Promise.all(Array.from({ length: 64 }, one));
}

describe('SFTP review: the buffer budget with several write handles on one channel', () => {
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

  it('two files uploaded at once on one SFTP channel (each its own writer) both arrive whole', async () => {
    // FERRY_BUFFER_BUDGET=8MiB: less than one 16 MiB part, so one upload holds a part at a time.
    processBudget.setLimit(8 * MiB);
    const c = await sftpClient(server, server.user);
    const big = randomBytes(24 * MiB);
    const small = randomBytes(MiB);
    const a = await p<Buffer>((cb) => c.sftp.open('/a.bin', 'w', cb));
    const b = await p<Buffer>((cb) => c.sftp.open('/b.bin', 'w', cb));
    // a's first bytes take the one part buffer the budget allows; b's WRITEs then wait for budget
    // (charged). Before, the channel was paused while they waited and the budget was full: a's
    // writer could send no more than the window left (2 MiB), its part never filled, was never
    // sent, and b never got budget — both hung until the 10-minute idle timeout aborted them.
    await p((cb) => c.sftp.write(a, big, 0, MiB, 0, cb));
    const upload = async (h: Buffer, body: Buffer, from: number) => {
      await writeAll(c.sftp, h, body, from);
      await p((cb) => c.sftp.close(h, cb));
    };
    await Promise.all([upload(b, small, 0), upload(a, big, MiB)]);
    for (const [name, body] of [
      ['a.bin', big],
      ['b.bin', small],
    ] as const) {
      const res = await s3.client.send(
        new GetObjectCommand({ Bucket: server.conn.bucket, Key: s3.key('alice', name) }),
      );
      expect(sha(await res.Body!.transformToByteArray())).toBe(sha(body));
    }
    expect(await s3.multipartUploads()).toBe(0);
    expect(processBudget.held).toBe(0);
    c.end();
  }, 120_000);

  it('a client that writes B, then writes and closes A before writing B again, is not stuck (B gives its part up)', async () => {
    // FERRY_BUFFER_BUDGET=8MiB: one 16 MiB part at a time. B's part, partly filled, holds the
    // budget; A's WRITEs wait for it, and this client (as one copying files one after another,
    // or waiting for each reply) writes no more to B until A is done. Before, the only way out
    // was the 10-minute idle timeout: hold-and-wait across handles.
    processBudget.setLimit(8 * MiB);
    const spilledBefore = partSpills.spilled;
    const c = await sftpClient(server, server.user);
    const bodyA = randomBytes(3 * MiB + 17);
    const bodyB = randomBytes(20 * MiB);
    const a = await p<Buffer>((cb) => c.sftp.open('/hold-a.bin', 'w', cb));
    const b = await p<Buffer>((cb) => c.sftp.open('/hold-b.bin', 'w', cb));
    await writeAll(c.sftp, b, bodyB.subarray(0, 2 * MiB + 5));
    const stuck = new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error('file A stuck behind the part file B holds')), 30_000).unref(),
    );
    await Promise.race([
      (async () => {
        await writeAll(c.sftp, a, bodyA);
        await p((cb) => c.sftp.close(a, cb));
      })(),
      stuck,
    ]);
    expect(partSpills.spilled).toBeGreaterThan(spilledBefore);
    // B goes on where it stopped (its part read back from the spill file), and is whole.
    await writeAll(c.sftp, b, bodyB, 2 * MiB + 5);
    await p((cb) => c.sftp.close(b, cb));
    for (const [name, body] of [
      ['hold-a.bin', bodyA],
      ['hold-b.bin', bodyB],
    ] as const) {
      const res = await s3.client.send(
        new GetObjectCommand({ Bucket: server.conn.bucket, Key: s3.key('alice', name) }),
      );
      expect(sha(await res.Body!.transformToByteArray())).toBe(sha(body));
    }
    // A is one part: its `ferry-sha256` is the running hash of its bytes.
    const head = await s3.client.send(
      new HeadObjectCommand({ Bucket: server.conn.bucket, Key: s3.key('alice', 'hold-a.bin') }),
    );
    expect(head.Metadata?.['ferry-sha256']).toBe(sha(bodyA));
    expect(await s3.multipartUploads()).toBe(0);
    expect(processBudget.held).toBe(0);
    expect(partSpills.open).toBe(0);
    c.end();
  }, 120_000);

  it('the same with the spill failing (EFBIG): A fails at once with an error, B goes on and is whole', async () => {
    // The spill of B's part fails: this process's file size limit lowered to 1 MiB (prlimit, as
    // `ulimit -f`; Node ignores SIGXFSZ, so the write fails with EFBIG). Before, B's part stayed
    // in memory and A's WRITEs waited for it until the idle timeout (budget-asks.ts).
    processBudget.setLimit(8 * MiB);
    const c = await sftpClient(server, server.user);
    const bodyA = randomBytes(3 * MiB + 17);
    const bodyB = randomBytes(20 * MiB);
    const a = await p<Buffer>((cb) => c.sftp.open('/efbig-a.bin', 'w', cb));
    const b = await p<Buffer>((cb) => c.sftp.open('/efbig-b.bin', 'w', cb));
    await writeAll(c.sftp, b, bodyB.subarray(0, 2 * MiB + 5));
    const limit = (soft: string) =>
      execFileSync('prlimit', ['--pid', String(process.pid), `--fsize=${soft}:`]);
    const saved = execFileSync('prlimit', [
      '--pid',
      String(process.pid),
      '--fsize',
      '--raw',
      '--noheadings',
      '-o',
      'SOFT',
    ])
      .toString()
      .trim();
    let outcome: string;
    const started = Date.now();
    try {
      limit(String(MiB));
      outcome = await Promise.race([
        writeAll(c.sftp, a, bodyA).then(
          () => 'written',
          (err: Error) => `failed: ${err.message}`,
        ),
        new Promise<string>((r) => setTimeout(() => r('stuck behind the part file B holds'), 30_000).unref()),
      ]);
    } finally {
      limit(saved);
    }
    expect(outcome).toMatch(/^failed: /);
    expect(Date.now() - started).toBeLessThan(10_000);
    await expect(p((cb) => c.sftp.close(a, cb))).rejects.toThrow();
    // B goes on where it stopped (its part never left memory), and is whole.
    await writeAll(c.sftp, b, bodyB, 2 * MiB + 5);
    await p((cb) => c.sftp.close(b, cb));
    const res = await s3.client.send(
      new GetObjectCommand({ Bucket: server.conn.bucket, Key: s3.key('alice', 'efbig-b.bin') }),
    );
    expect(sha(await res.Body!.transformToByteArray())).toBe(sha(bodyB));
    const headA = await s3.client
      .send(new HeadObjectCommand({ Bucket: server.conn.bucket, Key: s3.key('alice', 'efbig-a.bin') }))
      .catch(() => undefined);
    expect(headA).toBeUndefined();
    expect(await s3.multipartUploads()).toBe(0);
    expect(processBudget.held).toBe(0);
    expect(partSpills.open).toBe(0);
    c.end();
  }, 120_000);

  it('a download left open after its first READ does not hold the budget from an upload for ever', async () => {
    processBudget.setLimit(48 * MiB); // three 16 MiB parts
    const body = randomBytes(64 * MiB);
    const w = await sftpClient(server, server.user);
    const h = await p<Buffer>((cb) => w.sftp.open('/big.bin', 'w', cb));
    await writeAll(w.sftp, h, body);
    await p((cb) => w.sftp.close(h, cb));
    w.end();
    // A client opens the file, reads its first bytes and keeps the handle open (a paused
    // download, a viewer showing the start): the handle reads parts ahead, as far as the budget lets it.
    const r = await sftpClient(server, server.user);
    const rh = await p<Buffer>((cb) => r.sftp.open('/big.bin', 'r', cb));
    const first = Buffer.alloc(1024);
    await p<number>((cb) => r.sftp.read(rh, first, 0, first.length, 0, cb));
    expect(first.equals(body.subarray(0, 1024))).toBe(true);
    expect(processBudget.held).toBeGreaterThanOrEqual(32 * MiB);
    // Meanwhile another upload (its own channel). Before, its first part waited for budget the
    // idle reader's read-ahead held, as long as that handle stayed open.
    const up = randomBytes(20 * MiB);
    const u = await sftpClient(server, server.user);
    const uh = await p<Buffer>((cb) => u.sftp.open('/up.bin', 'w', cb));
    await writeAll(u.sftp, uh, up);
    await p((cb) => u.sftp.close(uh, cb));
    u.end();
    const res = await s3.client.send(
      new GetObjectCommand({ Bucket: server.conn.bucket, Key: s3.key('alice', 'up.bin') }),
    );
    expect(sha(await res.Body!.transformToByteArray())).toBe(sha(up));
    // The reader goes on reading: still the right bytes.
    const more = Buffer.alloc(1024);
    await p<number>((cb) => r.sftp.read(rh, more, 0, more.length, 40 * MiB, cb));
    expect(more.equals(body.subarray(40 * MiB, 40 * MiB + 1024))).toBe(true);
    await p((cb) => r.sftp.close(rh, cb));
    r.end();
    expect(await s3.multipartUploads()).toBe(0);
  }, 120_000);
});
