import { execFileSync } from 'node:child_process';
import { appendFile, mkdir, mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalStorage } from '../../src/storage/local/local-storage.js';
import { copyFile } from '../../src/storage/operations.js';
import type { Entry } from '../../src/storage/types.js';
import { executePlan, planSync, type SyncEvent } from '../../src/sync/index.js';
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

  it('a file replaced by a FIFO after the plan fails naming it, instead of the sync waiting for ever', async () => {
    await mkdir(join(dir, 'fifo-src'));
    await writeFile(join(dir, 'fifo-src', 'a.txt'), 'a');
    await writeFile(join(dir, 'fifo-src', 'p'), 'p');
    const src = { storage: local, root: 'fifo-src', display: 'fifo-src/' };
    const dst = { storage: s3.storage, root: 'fifo-dst', display: 's3://…/fifo-dst/' };
    const options = { mode: 'copy', compare: 'size-mtime' } as const;
    const plan = await planSync(src, dst, options);
    await rm(join(dir, 'fifo-src', 'p'));
    execFileSync('mkfifo', [join(dir, 'fifo-src', 'p')]);
    const events: SyncEvent[] = [];
    // Before the fix the read's open() waited in a thread-pool thread for a writer: for ever.
    const summary = await executePlan(src, dst, plan, options, (e) => events.push(e));
    expect(summary).toMatchObject({ copied: 1, failed: 1 });
    const failed = events.find((e) => e.kind === 'failed');
    expect(failed && 'error' in failed ? failed.error : '').toMatch(
      /not a regular file any more.*fifo-src\/p/,
    );
    await expect(s3.storage.stat('fifo-dst/p')).rejects.toMatchObject({ code: 'NotFound' });
  }, 30_000);
});
