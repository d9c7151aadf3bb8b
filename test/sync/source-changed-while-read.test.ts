import { mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bodyToBuffer } from '../../src/storage/body.js';
import { LocalStorage } from '../../src/storage/local/local-storage.js';
import { copyFile } from '../../src/storage/operations.js';
import { executePlan, planSync, type SyncEvent } from '../../src/sync/index.js';
import { testS3Storage, unfinishedUploads } from '../support/s3.js';

/**
 * Issue 11, session 9: a local file rewritten in place (same size) while it is copied to S3 is
 * never stored torn or stale: the upload fails with a Conflict before it commits (no object, no
 * multipart upload left), and the next sync copies the new content.
 */
describe('a local file rewritten while it is read (real S3)', () => {
  let s3: Awaited<ReturnType<typeof testS3Storage>>;
  let dir: string;
  let local: LocalStorage;
  const prefix = `race11-${Date.now()}`;
  beforeAll(async () => {
    s3 = await testS3Storage({ multipartThreshold: 5 * 1024 * 1024, partSize: 5 * 1024 * 1024 });
    dir = await mkdtemp(join(tmpdir(), 'ferry-race11-'));
    local = new LocalStorage(dir, { inlineSmallReads: true });
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  /** Overwrite the first bytes of `p` in place (same size, same inode). */
  const rewrite = async (p: string, byte: string) => {
    const fh = await open(p, 'r+');
    await fh.write(Buffer.alloc(4096, byte), 0, 4096, 0);
    await fh.close();
  };

  it('a multipart copy: rewritten after its first bytes are read, fails and stores nothing', async () => {
    const file = `${prefix}/big.bin`;
    await writeFile(join(dir, 'big.bin'), Buffer.alloc(12 * 1024 * 1024, 'a'));
    let done = false;
    const copying = copyFile(local, 'big.bin', s3.storage, file, {
      onBytes: () => {
        if (!done) {
          done = true;
          // Synchronously enough: the rewrite lands while the upload is still reading.
          void rewrite(join(dir, 'big.bin'), 'b');
        }
      },
    });
    await expect(copying).rejects.toThrow(/big\.bin changed while it was read: copy it again/);
    await expect(s3.storage.stat(file)).rejects.toMatchObject({ code: 'NotFound' });
    expect(await unfinishedUploads(s3.client, s3.conn.bucket, `${s3.conn.prefix ?? ''}`)).toEqual([]);
  }, 60_000);

  it('a small file read inline, rewritten before its PUT, is not stored', async () => {
    const file = `${prefix}/small.txt`;
    await writeFile(join(dir, 'small.txt'), 'old content');
    const body = await local.read('small.txt');
    await rewrite(join(dir, 'small.txt'), 'n');
    await writeFile(join(dir, 'small.txt'), 'new content');
    await expect(s3.storage.write(file, body, { size: 11 })).rejects.toThrow(/changed while it was read/);
    await expect(s3.storage.stat(file)).rejects.toMatchObject({ code: 'NotFound' });
  });

  it('a sync fails the rewritten file, and the next sync copies the new content', async () => {
    await writeFile(join(dir, 'big.bin'), Buffer.alloc(12 * 1024 * 1024, 'a'));
    const src = { storage: local, root: '', display: 'src/' };
    const dst = { storage: s3.storage, root: `${prefix}/sync`, display: 's3://…/sync/' };
    const options = { mode: 'copy', compare: 'size-mtime' } as const;
    let rewritten = false;
    const events: SyncEvent[] = [];
    const plan = await planSync(src, dst, options);
    const summary = await executePlan(src, dst, plan, options, (e) => {
      events.push(e);
      if (!rewritten && e.kind === 'bytes') {
        rewritten = true;
        void rewrite(join(dir, 'big.bin'), 'c');
      }
    });
    if (rewritten) {
      expect(summary.failed).toBeGreaterThanOrEqual(1);
      const failed = events.find((e) => e.kind === 'failed');
      expect(failed && 'error' in failed ? failed.error : '').toMatch(/changed while it was read/);
    }
    const again = await executePlan(src, dst, await planSync(src, dst, options), options, () => {});
    expect(again.failed).toBe(0);
    const stored = await bodyToBuffer(await s3.storage.read(`${prefix}/sync/big.bin`));
    expect(stored.equals(await readFile(join(dir, 'big.bin')))).toBe(true);
  }, 120_000);
});
