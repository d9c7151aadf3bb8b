import { appendFile, mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalStorage } from '../../src/storage/local/local-storage.js';
import { copyFile } from '../../src/storage/operations.js';
import type { Entry } from '../../src/storage/types.js';
import { testS3Storage } from '../support/s3.js';

/**
 * Issue 11, session 8 review: a local file whose size changes between the listing (the sync's
 * plan) and the read — inline (≤ 128 KiB at read time) or streamed — is not stored with the
 * listed size and other bytes: the upload fails naming the file, and no object is left that a
 * later sync could take for the file.
 */
describe('a local file that changes size between the listing and the read (real S3)', () => {
  let s3: Awaited<ReturnType<typeof testS3Storage>>;
  let dir: string;
  let local: LocalStorage;
  beforeAll(async () => {
    s3 = await testS3Storage();
    dir = await mkdtemp(join(tmpdir(), 'ferry-review-change-'));
    local = new LocalStorage(dir, { inlineSmallReads: true });
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const listed = async (name: string): Promise<Entry> => {
    for await (const e of local.list('', {})) if (e.path === name) return e;
    throw new Error(`${name} not listed`);
  };
  const cases: [string, number, (p: string) => Promise<void>, RegExp][] = [
    ['small, grown a little', 10, (p) => appendFile(p, 'x'.repeat(10)), /ran past its declared size/],
    ['small, grown past 128 KiB', 10, (p) => appendFile(p, 'x'.repeat(200 * 1024)), /ran past/],
    ['small, shrunk', 20, (p) => truncate(p, 10), /ended early/],
    ['over 128 KiB, shrunk to small', 200 * 1024, (p) => truncate(p, 10), /ended early/],
    ['over 128 KiB, grown', 200 * 1024, (p) => appendFile(p, 'x'.repeat(1000)), /ran past/],
  ];
  for (const [name, size, change, message] of cases) {
    it(name, async () => {
      const file = `${name.replace(/\W+/g, '-')}.bin`;
      await writeFile(join(dir, file), Buffer.alloc(size, 'a'));
      const entry = await listed(file);
      await change(join(dir, file));
      await expect(
        copyFile(local, file, s3.storage, file, { known: entry, onBytes: () => {} }),
      ).rejects.toThrow(message);
      await expect(s3.storage.stat(file)).rejects.toMatchObject({ code: 'NotFound' });
    });
  }
});
