import { createHash, randomBytes } from 'node:crypto';
import { HeadObjectCommand, ListMultipartUploadsCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BufferBudget } from '../../src/s3/buffer-budget.js';
import { SHA256_META } from '../../src/s3/checksum.js';
import type { S3Connection } from '../../src/s3/connection.js';
import { checkedStorage } from '../../src/storage/checked.js';
import { partSpills } from '../../src/storage/s3/part-spill.js';
import type { S3Storage } from '../../src/storage/s3/s3-storage.js';
import type { Storage } from '../../src/storage/types.js';
import { readAll } from '../support/collect.js';
import { testS3Storage } from '../support/s3.js';

/**
 * A write handle's part being filled, given back to the budget while a reservation waits and the
 * handle has had no call for a while (write-handle.ts `offerPart`, part-spill.ts): the bytes, the
 * part's running SHA-256 and the budget must come back as they were.
 */

const MiB = 1024 * 1024;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('S3 write handle: a part spilled while another reservation waits', () => {
  let conn: S3Connection;
  let client: S3Client;
  let raw: S3Storage;
  let s: Storage;
  const budget = new BufferBudget(8 * MiB);

  beforeAll(async () => {
    const made = await testS3Storage();
    ({ conn, client, raw } = made);
    raw.upload = { ...raw.upload, threshold: 5 * MiB, partSize: 5 * MiB, concurrency: 2, writeWindow: MiB };
    raw.budget = budget;
    s = checkedStorage(raw);
  });
  afterAll(async () => {
    for (const name of ['spill-one.bin', 'spill-multi.bin', 'spill-ahead.bin'])
      await s.remove(name).catch(() => {});
  });

  const check = async (name: string, want: Buffer) => {
    const got = await readAll(await s.read(name));
    expect(got.length).toBe(want.length);
    expect(sha(got)).toBe(sha(want));
    const head = await client.send(
      new HeadObjectCommand({ Bucket: conn.bucket, Key: `${conn.prefix}/${name}` }),
    );
    const meta = head.Metadata?.[SHA256_META];
    if (meta !== undefined) expect(meta).toBe(sha(want));
    const left = await client.send(
      new ListMultipartUploadsCommand({ Bucket: conn.bucket, Prefix: `${conn.prefix}/` }),
    );
    expect(left.Uploads?.length ?? 0).toBe(0);
  };

  /** Another transfer's part: waits for the budget `h`'s part holds, granted once it is given up. */
  const otherPart = async () => {
    const started = Date.now();
    const release = await budget.reserve(5 * MiB, AbortSignal.timeout(20_000));
    const waited = Date.now() - started;
    release();
    return waited;
  };

  it('a one-part file: spilled, read back at close, stored with its running hash as ferry-sha256', async () => {
    const want = randomBytes(2 * MiB + 3);
    const spilled = partSpills.spilled;
    const h = await s.openWrite!('spill-one.bin');
    await h.write(0, want);
    expect(budget.held).toBe(5 * MiB);
    // The handle is written to within the idle time: it keeps its part that long at least.
    expect(await otherPart()).toBeGreaterThanOrEqual(900);
    expect(partSpills.spilled).toBe(spilled + 1);
    expect(budget.held).toBe(0);
    await h.close();
    await check('spill-one.bin', want);
    expect(partSpills.open).toBe(0);
    expect(budget.held).toBe(0);
  }, 60_000);

  it('a multipart file: spilled, then written over inside the spilled bytes and continued', async () => {
    const want = randomBytes(12 * MiB + 5);
    const restored = partSpills.restored;
    const h = await s.openWrite!('spill-multi.bin');
    const junk = Buffer.from(want.subarray(0, 7 * MiB));
    randomBytes(1000).copy(junk, 6 * MiB); // in part 2, hashed, then spilled, then written over
    await h.write(0, junk);
    await otherPart();
    await h.write(6 * MiB, want.subarray(6 * MiB, 6 * MiB + 1000));
    expect(partSpills.restored).toBe(restored + 1);
    await h.write(7 * MiB, want.subarray(7 * MiB));
    await h.close();
    await check('spill-multi.bin', want);
    expect(partSpills.open).toBe(0);
    expect(budget.held).toBe(0);
  }, 60_000);

  it('writes ahead of a gap, held in memory: moved to the spill file, the file whole at close', async () => {
    const want = randomBytes(768 * 1024 + 77);
    const h = await s.openWrite!('spill-ahead.bin');
    await h.write(512 * 1024, want.subarray(512 * 1024, 768 * 1024)); // ahead of byte 0: in memory
    expect(budget.held).toBe(256 * 1024);
    // A reservation of the whole budget waits for those bytes until the handle gives them up.
    const release = await budget.reserve(8 * MiB, AbortSignal.timeout(20_000));
    release();
    expect(budget.held).toBe(0);
    await h.write(0, want.subarray(0, 512 * 1024));
    await h.write(768 * 1024, want.subarray(768 * 1024));
    await h.close();
    await check('spill-ahead.bin', want);
    expect(budget.held).toBe(0);
  }, 60_000);

  it('a spilled part of an aborted handle: its file is freed, nothing is stored', async () => {
    const h = await s.openWrite!('spill-abort.bin');
    await h.write(0, randomBytes(MiB));
    await otherPart();
    expect(partSpills.open).toBe(1);
    await h.abort();
    expect(partSpills.open).toBe(0);
    expect(await s.stat('spill-abort.bin').catch(() => undefined)).toBeUndefined();
    expect(budget.held).toBe(0);
  }, 60_000);
});
