import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Client } from '../../src/s3/client.js';
import { LocalStorage } from '../../src/storage/local/local-storage.js';
import { S3Storage } from '../../src/storage/s3/s3-storage.js';
import type { Storage } from '../../src/storage/types.js';
import { runSync, type SyncSide } from '../../src/sync/index.js';
import { ensureBucket, testConnection } from '../support/s3.js';

/**
 * Review: an aborted sync stops writing. A job run aborts its sync when it can no longer renew
 * its lease (src/jobs/runner.ts) — another node may then start the same job — and a server
 * stopping aborts the runs it has. Every action begun after the abort is a write by a run that
 * no longer holds its job: a mirror's deletes must stop as its copies do, on a local folder and
 * on S3 alike (neither backend's `remove` looks at the signal by itself).
 */
function side(storage: Storage, root: string): SyncSide {
  return { storage, root, display: `${storage.description}${root}` };
}

const FILES = 400;
const CONCURRENCY = 4;

describe('review: an aborted mirror stops deleting', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ferry-review-abort-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function abortAfter(dst: Storage, count: () => Promise<number>) {
    const local = new LocalStorage(dir);
    const abort = new AbortController();
    let deleted = 0;
    let after = 0;
    const outcome = await runSync(
      side(local, 'src'),
      side(dst, 'dst'),
      { mode: 'mirror', compare: 'size-mtime', concurrency: CONCURRENCY, signal: abort.signal },
      (e) => {
        if (e.kind !== 'done' || e.action.op !== 'delete') return;
        if (abort.signal.aborted) after++;
        else if (++deleted === 10) abort.abort(new Error('the run lost its lease'));
      },
    ).then(
      () => 'finished',
      (e: Error) => e.message,
    );
    return { outcome, after, left: await count() };
  }

  it('local folder: no delete begins after the abort', async () => {
    await mkdir(join(dir, 'src'), { recursive: true });
    await mkdir(join(dir, 'dst'), { recursive: true });
    await writeFile(join(dir, 'src', 'keep.txt'), 'keep');
    for (let i = 0; i < FILES; i++) await writeFile(join(dir, 'dst', `old-${i}.txt`), 'old');
    const r = await abortAfter(new LocalStorage(dir), async () => (await readdir(join(dir, 'dst'))).length);
    expect(r.outcome).toBe('the run lost its lease');
    // At most the deletes already under way when the abort came (one per worker) end after it.
    expect(r.after).toBeLessThanOrEqual(CONCURRENCY);
    expect(r.left).toBeGreaterThanOrEqual(FILES - 10 - CONCURRENCY);
  });

  it('S3: no delete begins after the abort', { timeout: 120_000 }, async () => {
    const conn = testConnection();
    const client = createS3Client(conn);
    await ensureBucket(client, conn.bucket);
    const s3 = new S3Storage(client, conn);
    await Promise.all(
      Array.from({ length: 100 }, (_, i) => s3.write(`dst/old-${i}.txt`, 'old', { size: 3 })),
    );
    await mkdir(join(dir, 'src'), { recursive: true });
    await writeFile(join(dir, 'src', 'keep.txt'), 'keep');
    let left = 0;
    const r = await abortAfter(s3, async () => {
      left = 0;
      for await (const e of s3.list('dst')) if (e.name.startsWith('old-')) left++;
      return left;
    });
    expect(r.outcome).toBe('the run lost its lease');
    expect(r.after).toBeLessThanOrEqual(CONCURRENCY);
    expect(r.left).toBeGreaterThanOrEqual(100 - 10 - CONCURRENCY);
    await s3.removeTree('');
  });
});
