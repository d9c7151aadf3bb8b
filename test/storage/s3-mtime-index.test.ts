import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../../src/db/database.js';
import { StoreMtimeIndex } from '../../src/db/mtime-index.js';
import { createS3Client } from '../../src/s3/client.js';
import { checkedStorage } from '../../src/storage/checked.js';
import type { MtimeIndex } from '../../src/storage/s3/mtime-index.js';
import { S3Storage } from '../../src/storage/s3/s3-storage.js';
import type { Entry, Storage } from '../../src/storage/types.js';
import { tempStore } from '../session/support.js';
import { readAll } from '../support/collect.js';
import { ensureBucket, testConnection } from '../support/s3.js';

async function listing(s: Storage, path: string, recursive = false): Promise<Map<string, Entry>> {
  const out = new Map<string, Entry>();
  for await (const e of s.list(path, { recursive })) out.set(e.path, e);
  return out;
}

describe('S3Storage with an mtime index (real S3 server)', () => {
  let store: Store;
  beforeAll(async () => {
    ({ store } = await tempStore());
    const conn = testConnection();
    const client = createS3Client(conn);
    await ensureBucket(client, conn.bucket);
    client.destroy();
  });
  afterAll(() => store?.close());

  it('a folder rename and a copy carry the recorded times; a removed file leaves the index', async () => {
    const conn = testConnection();
    const index = new StoreMtimeIndex(store);
    const raw = new S3Storage(createS3Client(conn), conn, { mtimeIndex: index });
    const s = checkedStorage(raw);
    const t = new Date('2020-02-02T02:02:02.000Z');
    for (let i = 0; i < 5; i++) await s.write(`a/f${i}.txt`, `file ${i}`, { mtime: t });
    await s.rename!('a', 'b');
    await s.copy!('b/f0.txt', 'c.txt');
    const after = await listing(s, '', true);
    for (let i = 0; i < 5; i++) {
      expect(after.get(`b/f${i}.txt`)?.mtime.toISOString()).toBe(t.toISOString());
      expect(after.get(`b/f${i}.txt`)?.clientMtime).toBe(true);
    }
    expect(after.get('c.txt')?.clientMtime).toBe(true);
    const key = raw.keys.file('b/f1.txt');
    const etag = after.get('b/f1.txt')!.etag!;
    expect((await index.lookup(raw.mtimeScope, [{ key: raw.keys.file('a/f1.txt'), etag }])).size).toBe(0);
    await s.remove('b/f1.txt');
    expect((await index.lookup(raw.mtimeScope, [{ key, etag }])).size).toBe(0);
    await s.close?.();
  });

  it('a failing index never fails the S3 operation: listings fall back to LastModified, the failure is reported', async () => {
    const conn = testConnection();
    const failures: unknown[] = [];
    const broken: MtimeIndex = {
      lookup: async () => {
        throw new Error('store down');
      },
      record: async () => {
        throw new Error('store down');
      },
      forget: async () => {
        throw new Error('store down');
      },
    };
    const s = checkedStorage(
      new S3Storage(createS3Client(conn), conn, {
        mtimeIndex: broken,
        onMtimeIndexError: (err) => void failures.push(err),
      }),
    );
    const t = new Date('2020-02-02T02:02:02.000Z');
    await s.write('x/a.txt', 'a', { mtime: t });
    const h = await s.openWrite!('x/b.txt', { mtime: t });
    await h.write(0, Buffer.from('b'));
    await h.close();
    await s.setModTime!('x/a.txt', t);
    await s.rename!('x/b.txt', 'x/c.txt');
    const seen = await listing(s, 'x');
    expect(seen.get('x/a.txt')?.clientMtime).toBeUndefined();
    expect(seen.get('x/a.txt')!.mtime.getTime()).not.toBe(t.getTime());
    expect((await s.stat('x/a.txt')).mtime.toISOString()).toBe(t.toISOString()); // the HEAD still has it
    await s.remove('x/a.txt');
    expect((await readAll(await s.read('x/c.txt'))).toString()).toBe('b');
    expect(failures.length).toBeGreaterThanOrEqual(6);
    expect(failures.every((e) => (e as Error).message === 'store down')).toBe(true);
    await s.close?.();
  });
});
