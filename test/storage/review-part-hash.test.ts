import { createHash, randomBytes } from 'node:crypto';
import { HeadObjectCommand, ListMultipartUploadsCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SHA256_META } from '../../src/s3/checksum.js';
import type { S3Connection } from '../../src/s3/connection.js';
import { checkedStorage } from '../../src/storage/checked.js';
import type { Storage } from '../../src/storage/types.js';
import { readAll } from '../support/collect.js';
import { testS3Storage } from '../support/s3.js';

/**
 * Attacker's review of the part SHA-256 taken as bytes are copied in (write-handle.ts `hashNew`,
 * `rewound`): bytes written over after they were hashed, a truncate, pending writes drained into
 * the part, kept bytes read at open, the one-part PutObject. What the store holds must be what was
 * written, and a one-part file's `ferry-sha256` must be its bytes' (RGW refuses a part whose
 * signed payload hash is not its body's, so a stale hash shows as a failed write, never silently).
 */

const MiB = 1024 * 1024;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
/** A copy of `b` with `n` other bytes at `at`. */
const withJunk = (b: Buffer, at: number, n: number) => {
  const c = Buffer.from(b);
  randomBytes(n).copy(c, at);
  return c;
};

describe('review: S3 write handle, part SHA-256 taken while copying', () => {
  let conn: S3Connection;
  let client: S3Client;
  let s: Storage;

  beforeAll(async () => {
    // Its client made as the CLI and `ferry serve` make it: a one-part file takes the lean PUT.
    const made = await testS3Storage();
    ({ conn, client } = made);
    const raw = made.raw;
    raw.upload = { ...raw.upload, threshold: 5 * MiB, partSize: 5 * MiB, concurrency: 2, writeWindow: MiB };
    s = checkedStorage(raw);
  });
  afterAll(async () => {
    for (const name of ['rewrite.bin', 'small.bin', 'behind.bin', 'update.bin', 'overwrite.bin'])
      await s.remove(name).catch(() => {});
  });

  const leftovers = async () =>
    (await client.send(new ListMultipartUploadsCommand({ Bucket: conn.bucket, Prefix: `${conn.prefix}/` })))
      .Uploads?.length ?? 0;
  /** The stored bytes are `want`; a `ferry-sha256` on the object is theirs. */
  const check = async (name: string, want: Buffer) => {
    const got = await readAll(await s.read(name));
    expect(got.length).toBe(want.length);
    expect(sha(got)).toBe(sha(want));
    const head = await client.send(
      new HeadObjectCommand({ Bucket: conn.bucket, Key: `${conn.prefix}/${name}` }),
    );
    const meta = head.Metadata?.[SHA256_META];
    if (meta !== undefined) expect(meta).toBe(sha(want));
    expect(await leftovers()).toBe(0);
  };

  it('bytes written over after they were hashed, in the first part and a later one: the store has the last ones', async () => {
    const want = randomBytes(13 * MiB + 99);
    const h = await s.openWrite!('rewrite.bin');
    // Other bytes first (hashed as they come), then the right ones over them: the hash is stale.
    await h.write(0, withJunk(want.subarray(0, 3 * MiB), MiB, 1000));
    await h.write(MiB, want.subarray(MiB, MiB + 1000));
    await h.write(3 * MiB, withJunk(want.subarray(3 * MiB, 7 * MiB), 3 * MiB, 77)); // 6 MiB: part 2
    await h.write(6 * MiB, want.subarray(6 * MiB, 6 * MiB + 77));
    await h.write(7 * MiB, want.subarray(7 * MiB));
    await h.close();
    await check('rewrite.bin', want);
  });

  it('a one-part file written over and grown (the lean PutObject with the running hash): bytes and ferry-sha256 are the last ones', async () => {
    const want = randomBytes(300 * 1024 + 5); // past the first buffer's 256 KiB: it grows
    const h = await s.openWrite!('small.bin');
    await h.write(0, withJunk(want.subarray(0, 200 * 1024), 10, 20));
    await h.write(200 * 1024, want.subarray(200 * 1024));
    await h.write(10, want.subarray(10, 30));
    await h.close();
    await check('small.bin', want);
  });

  it('writes ahead of the end drained into the part, then a write behind them: the store has every byte', async () => {
    const want = randomBytes(6 * MiB + 3);
    const h = await s.openWrite!('behind.bin');
    await h.write(2 * MiB, want.subarray(2 * MiB, 4 * MiB)); // pending (spilled past the window)
    await h.write(4 * MiB, withJunk(want.subarray(4 * MiB), MiB + 10, 100)); // pending
    await h.write(0, want.subarray(0, 2 * MiB)); // drains both: part 1 full, part 2 begun
    // Over drained (hashed) bytes of part 2: the right ones.
    await h.write(5 * MiB + 10, want.subarray(5 * MiB + 10, 5 * MiB + 110));
    await h.close();
    await check('behind.bin', want);
  });

  it('update: kept bytes read at open, a write past them, a truncate into the written bytes, more writes: the store has the result', async () => {
    const old = randomBytes(1000);
    await s.write('update.bin', old);
    const h = await s.openWrite!('update.bin', { mode: 'update' });
    const a = randomBytes(5000);
    await h.write(1000, a);
    await h.truncate!(3000);
    const b = randomBytes(4000);
    await h.write(3000, b);
    await h.close();
    await check('update.bin', Buffer.concat([old, a.subarray(0, 2000), b]));
  });

  it('update, overwrite from 0 of a 6 MiB file: truncated inside the part, written again, grown past a part', async () => {
    await s.write('overwrite.bin', randomBytes(6 * MiB));
    const h = await s.openWrite!('overwrite.bin', { mode: 'update' });
    const want = randomBytes(11 * MiB + 1);
    await h.write(0, withJunk(want.subarray(0, 2 * MiB), MiB, MiB));
    await h.truncate!(MiB); // cuts hashed bytes of the part being filled
    await h.write(MiB, want.subarray(MiB, 3 * MiB));
    await h.write(3 * MiB, want.subarray(3 * MiB));
    await h.close();
    await check('overwrite.bin', want);
  });
});
