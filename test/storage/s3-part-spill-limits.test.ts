import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { ListMultipartUploadsCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BufferBudget } from '../../src/s3/buffer-budget.js';
import type { S3Connection } from '../../src/s3/connection.js';
import { checkedStorage } from '../../src/storage/checked.js';
import type { WriteHandle } from '../../src/storage/handles.js';
import { partSpills } from '../../src/storage/s3/part-spill.js';
import type { S3Storage } from '../../src/storage/s3/s3-storage.js';
import type { Storage } from '../../src/storage/types.js';
import { readAll } from '../support/collect.js';
import { testS3Storage } from '../support/s3.js';

/**
 * The part spill's limits (part-spill.ts, src/s3/budget-asks.ts; docs/notes/issue-9.md "Session 8:
 * spill"): only as many idle handles spill as a waiting reservation needs, and a spill that fails
 * (here a real EFBIG: this test process's own file size limit lowered with prlimit, as `ulimit -f`
 * does; Node ignores SIGXFSZ, so writes past it fail) ends the wait with a clear error instead of
 * leaving it hanging on a client that waits for it.
 */

const MiB = 1024 * 1024;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** This process's soft file size limit, as prlimit takes it ("unlimited" or bytes). */
function fileSizeLimit(): string {
  return execFileSync('prlimit', [
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
}
function setFileSizeLimit(soft: string): void {
  execFileSync('prlimit', ['--pid', String(process.pid), `--fsize=${soft}:`]);
}

describe('S3 part spill: how much is spilled, and a spill that fails', () => {
  let conn: S3Connection;
  let client: S3Client;
  let raw: S3Storage;
  let s: Storage;

  beforeAll(async () => {
    ({ conn, client, raw } = await testS3Storage());
    raw.upload = { ...raw.upload, threshold: 5 * MiB, partSize: 5 * MiB, concurrency: 2, writeWindow: MiB };
    s = checkedStorage(raw);
  });

  const uploadsLeft = async () =>
    (await client.send(new ListMultipartUploadsCommand({ Bucket: conn.bucket, Prefix: `${conn.prefix}/` })))
      .Uploads?.length ?? 0;
  const check = async (name: string, want: Buffer) => {
    const got = await readAll(await s.read(name));
    expect(got.length).toBe(want.length);
    expect(sha(got)).toBe(sha(want));
  };

  it('six idle handles, one small reservation waiting: one part spilled, not six', async () => {
    const budget = new BufferBudget(32 * MiB);
    raw.budget = budget;
    const bodies = Array.from({ length: 6 }, () => randomBytes(MiB + 11));
    const handles: WriteHandle[] = [];
    for (const [i, body] of bodies.entries()) {
      const h = await s.openWrite!(`idle-${i}.bin`);
      await h.write(0, body);
      handles.push(h);
    }
    expect(budget.held).toBe(30 * MiB); // a 5 MiB reservation each
    const spilled = partSpills.spilled;
    // 30 held + 4 wanted = 2 MiB past the limit: one handle's part is enough.
    const release = await budget.reserve(4 * MiB, AbortSignal.timeout(20_000));
    // Let every handle be asked again (every 250 ms while someone waits): none may spill now.
    await new Promise((r) => setTimeout(r, 600));
    expect(partSpills.spilled - spilled).toBe(1);
    release();
    for (const [i, h] of handles.entries()) {
      await h.write(bodies[i]!.length, Buffer.from('end'));
      await h.close();
    }
    for (const [i, body] of bodies.entries())
      await check(`idle-${i}.bin`, Buffer.concat([body, Buffer.from('end')]));
    expect(partSpills.open).toBe(0);
    expect(budget.held).toBe(0);
    expect(await uploadsLeft()).toBe(0);
  }, 60_000);

  it('a spill that fails (EFBIG): the write waiting for budget fails at once, saying why; nothing left behind', async () => {
    const budget = new BufferBudget(8 * MiB);
    raw.budget = budget;
    const saved = fileSizeLimit();
    const open = partSpills.open;
    const bodyC = randomBytes(8 * MiB + 5);
    const bodyB = randomBytes(2 * MiB + 7);
    // C: a multipart upload under way (part 1 sent), part 2 holding 5 MiB of the 8.
    const c = await s.openWrite!('fails-c.bin');
    await c.write(0, bodyC.subarray(0, 6 * MiB));
    // B waits for budget until C, idle, spills its part (the disk still has room).
    const b = await s.openWrite!('fails-b.bin');
    await b.write(0, bodyB.subarray(0, 2 * MiB));
    expect(partSpills.open).toBe(open + 1);
    let outcome: string;
    try {
      setFileSizeLimit(String(MiB)); // a spill file may not pass 1 MiB now: B's 2 MiB cannot go
      // C's next call reads its part back and waits for 5 MiB; only B's part, idle, could make room.
      const started = Date.now();
      outcome = await Promise.race([
        c.write(6 * MiB, bodyC.subarray(6 * MiB)).then(
          () => 'written',
          (err: Error) => `failed after ${Date.now() - started} ms: ${err.message}`,
        ),
        new Promise<string>((r) => setTimeout(() => r('still waiting after 15 s'), 15_000)),
      ]);
    } finally {
      setFileSizeLimit(saved);
    }
    // Still waiting (the bug): abort C so its multipart upload is not left in the bucket.
    if (!outcome.startsWith('failed')) await c.abort();
    expect(outcome).toMatch(/^failed after \d+ ms: /);
    expect(Number(/after (\d+) ms/.exec(outcome)![1])).toBeLessThan(5000);
    expect(outcome).toContain('could not be moved to disk');
    expect(outcome).toMatch(/EFBIG|file too large/);
    // C is aborted: its multipart upload is gone, nothing stored, its spill file freed.
    await expect(c.close()).rejects.toThrow();
    expect(await s.stat('fails-c.bin').catch(() => undefined)).toBeUndefined();
    expect(await uploadsLeft()).toBe(0);
    // B kept its part in memory and goes on.
    await b.write(2 * MiB, bodyB.subarray(2 * MiB));
    await b.close();
    await check('fails-b.bin', bodyB);
    expect(partSpills.open).toBe(open);
    expect(budget.held).toBe(0);
    expect(await uploadsLeft()).toBe(0);
  }, 60_000);

  afterAll(async () => {
    for (let i = 0; i < 6; i++) await s.remove(`idle-${i}.bin`).catch(() => {});
    await s.remove('fails-b.bin').catch(() => {});
  });
});
