import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { createS3Client } from '../../src/s3/client.js';
import { checkedStorage } from '../../src/storage/checked.js';
import { S3Storage } from '../../src/storage/s3/s3-storage.js';
import { readAll } from '../support/collect.js';
import { startFaultProxy } from '../support/fault-proxy.js';
import { ensureBucket, testConnection, testS3 } from '../support/s3.js';

/**
 * Review L2 (session 14): an exclusive create (If-None-Match: *) that the store committed but
 * whose answer was lost is sent again (by the SDK's retry, or by the SDK after the lean path's
 * try); the second request finds the name taken (412). That is our own write: the create
 * succeeded. Another writer's file at the name is still AlreadyExists.
 */
const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups) await c().catch(() => {});
});

async function storageVia(lean: boolean) {
  const proxy = await startFaultProxy(testS3().endpoint);
  cleanups.push(() => proxy.close());
  const conn = testConnection({ endpoint: proxy.endpoint });
  const env = lean ? process.env : { ...process.env, FERRY_LEAN_S3: '0' };
  const client = createS3Client(conn, env);
  await ensureBucket(client, conn.bucket);
  cleanups.push(() => new S3Storage(client, conn).removeTree(''));
  return { proxy, storage: checkedStorage(new S3Storage(client, conn)) };
}

describe('exclusive create: a lost answer is not "already exists"', () => {
  // Size known: one conditional PutObject (upload.ts); unknown: the name is claimed first with a
  // conditional zero-byte PUT (exclusive-claim.ts, on stores without conditional completes).
  for (const [lean, sized] of [
    [true, true],
    [false, true],
    [false, false],
  ] as [boolean, boolean][]) {
    it(`${lean ? 'lean path' : 'SDK path'}, ${sized ? 'size known' : 'name claimed first'}: the first PUT's answer is lost after the store stored it`, async () => {
      const { proxy, storage } = await storageVia(lean);
      let lost = 0;
      proxy.decide = (r) => (r.op === 'PutObject' && lost++ === 0 ? 'lose' : 'pass');
      const body = randomBytes(2000);
      const puts = proxy.count('PutObject');
      const entry = await storage.write('once.bin', body, {
        createOnly: true,
        targetListed: true,
        ...(sized ? { size: body.length } : {}),
      });
      expect(entry.size).toBe(body.length);
      // The lost one (stored) and the one that found the name taken (and the write after a claim).
      expect(proxy.count('PutObject')).toBe(puts + (sized ? 2 : 3));
      expect((await readAll(await storage.read('once.bin'))).equals(body)).toBe(true);

      // A file someone else put there (no lost answer) is still refused, and kept.
      const other = randomBytes(2000);
      await storage.write('theirs.bin', other);
      await expect(
        storage.write('theirs.bin', randomBytes(2000), { createOnly: true, targetListed: true }),
      ).rejects.toMatchObject({ code: 'AlreadyExists' });
      // Same bytes, but a lost answer of ours did not happen: still refused.
      lost = 0;
      proxy.decide = () => 'pass';
      await expect(
        storage.write('theirs.bin', other, { createOnly: true, targetListed: true }),
      ).rejects.toMatchObject({ code: 'AlreadyExists' });
      expect((await readAll(await storage.read('theirs.bin'))).equals(other)).toBe(true);
    });
  }

  it('a lost answer, then the retry finds a different file there: AlreadyExists', async () => {
    const { proxy, storage } = await storageVia(false);
    const other = randomBytes(100);
    await storage.write('raced.bin', other);
    // The first PUT is refused by the store (the name is taken) but its answer is lost: the
    // retry's 412 is then checked against the object, which is not ours.
    let n = 0;
    proxy.decide = (r) => (r.op === 'PutObject' && n++ === 0 ? 'lose' : 'pass');
    await expect(
      storage.write('raced.bin', randomBytes(100), { createOnly: true, targetListed: true, size: 100 }),
    ).rejects.toMatchObject({ code: 'AlreadyExists' });
    expect((await readAll(await storage.read('raced.bin'))).equals(other)).toBe(true);
  });
});
