import { mkdir, mkdtemp, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalStorage } from '../../src/storage/local/local-storage.js';
import { MemoryStorage } from '../../src/storage/memory/memory-storage.js';
import { removeTree } from '../../src/storage/operations.js';
import {
  executeActions,
  planSync,
  runSync,
  type SyncEvent,
  type SyncOptions,
  type SyncSide,
} from '../../src/sync/index.js';
import { countOps } from '../support/count-ops.js';
import { testS3Storage } from '../support/s3.js';

/** runSync and its executor over real backends (local folder, S3 on RGW, memory). */

const copyOpts: SyncOptions = { mode: 'copy', compare: 'size-mtime' };

async function tree(root: string, files: Record<string, string>): Promise<void> {
  for (const [p, body] of Object.entries(files)) {
    await mkdir(join(root, p, '..'), { recursive: true });
    await writeFile(join(root, p), body);
  }
}

function side(storage: SyncSide['storage'], root = ''): SyncSide {
  return { storage, root, display: `${storage.description}${root}` };
}

describe('runSync', () => {
  let dir: string;
  let s3: Awaited<ReturnType<typeof testS3Storage>>;
  let local: LocalStorage;
  let ops: string[];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ferry-sync-'));
    s3 = await testS3Storage();
    local = new LocalStorage(dir);
    ops = countOps(s3.client);
  });
  afterAll(async () => {
    await removeTree(s3.storage, '').catch(() => {});
    await rm(dir, { recursive: true, force: true });
    await s3.storage.close?.();
  });

  it('local → S3: copies with one PutObject per small file, then a re-sync costs listings only', async () => {
    await tree(join(dir, 'up'), { 'a.txt': 'alpha', 'sub/b.txt': 'bravo', 'sub/deep/c.txt': 'charlie' });
    ops.length = 0;
    const events: SyncEvent[] = [];
    const first = await runSync(side(local, 'up'), side(s3.storage, 'up'), copyOpts, (e) => events.push(e));
    expect(first.summary).toMatchObject({ copied: 3, updated: 0, deleted: 0, failed: 0, bytes: 17 });
    // The one HEAD: the listing of the destination folder, missing, asks whether it is a file.
    expect(ops.filter((o) => o !== 'ListObjectsV2Command').sort()).toEqual([
      'HeadObjectCommand',
      'PutObjectCommand',
      'PutObjectCommand',
      'PutObjectCommand',
    ]);
    expect(events.filter((e) => e.kind === 'done')).toHaveLength(3);
    ops.length = 0;
    const again = await runSync(side(local, 'up'), side(s3.storage, 'up'), copyOpts);
    expect(again.plan.actions).toEqual([]);
    expect(again.summary).toMatchObject({ copied: 0, skipped: 3, failed: 0 });
    expect(new Set(ops)).toEqual(new Set(['ListObjectsV2Command']));
  });

  it('S3 → local: no HEAD per object; the local mtime is the listed time, so a re-sync copies nothing', async () => {
    ops.length = 0;
    const res = await runSync(side(s3.storage, 'up'), side(local, 'down'), copyOpts);
    expect(res.summary).toMatchObject({ copied: 3, failed: 0 });
    expect(ops).not.toContain('HeadObjectCommand');
    expect(await readFile(join(dir, 'down/sub/deep/c.txt'), 'utf8')).toBe('charlie');
    // The local time is the object's listed LastModified (not its X-Amz-Meta-Mtime).
    let listed: Date | undefined;
    for await (const e of s3.storage.list('up')) if (e.path === 'up/a.txt') listed = e.mtime;
    expect(Math.round((await stat(join(dir, 'down/a.txt'))).mtimeMs)).toBe(listed?.getTime());
    ops.length = 0;
    const again = await runSync(side(s3.storage, 'up'), side(local, 'down'), copyOpts);
    expect(again.plan.actions).toEqual([]);
    expect(new Set(ops)).toEqual(new Set(['ListObjectsV2Command']));
  });

  it('a changed source file is updated; --size-only ignores a newer time; --update keeps a newer destination', async () => {
    await writeFile(join(dir, 'up/a.txt'), 'alpha, longer');
    const plan = await planSync(side(local, 'up'), side(s3.storage, 'up'), copyOpts);
    expect(plan.actions.map((a) => a.op === 'copy' && [a.path, a.reason])).toEqual([['a.txt', 'changed']]);
    // Same size, newer local time: size-mtime copies, size-only does not.
    const future = new Date(Date.now() + 3600_000);
    await utimes(join(dir, 'up/sub/b.txt'), future, future);
    const bySize = await planSync(side(local, 'up'), side(s3.storage, 'up'), {
      ...copyOpts,
      compare: 'size',
    });
    expect(bySize.actions.map((a) => a.path)).toEqual(['a.txt']);
    const byTime = await planSync(side(local, 'up'), side(s3.storage, 'up'), copyOpts);
    expect(byTime.actions.map((a) => a.path)).toEqual(['a.txt', 'sub/b.txt']);
    // --update: the destination (S3 LastModified = now) is newer than a source dated in the past.
    const past = new Date(Date.now() - 3600_000);
    await utimes(join(dir, 'up/a.txt'), past, past);
    const upd = await planSync(side(local, 'up'), side(s3.storage, 'up'), { ...copyOpts, update: true });
    expect(upd.actions.map((a) => a.path)).toEqual(['sub/b.txt']);
    expect(upd.kept).toBe(1);
  });

  it('--checksum compares SHA-256 (stored ferry-sha256 on S3) and finds equal-size different content', async () => {
    await runSync(side(local, 'up'), side(s3.storage, 'up'), copyOpts);
    const same = await planSync(side(local, 'up'), side(s3.storage, 'up'), {
      ...copyOpts,
      compare: 'checksum',
    });
    expect(same.actions).toEqual([]);
    // Same size, older time, other bytes: only the checksum sees it.
    await writeFile(join(dir, 'up/sub/b.txt'), 'BRAVO');
    const past = new Date(Date.now() - 7200_000);
    await utimes(join(dir, 'up/sub/b.txt'), past, past);
    const byTime = await planSync(side(local, 'up'), side(s3.storage, 'up'), copyOpts);
    expect(byTime.actions).toEqual([]);
    const bySum = await planSync(side(local, 'up'), side(s3.storage, 'up'), {
      ...copyOpts,
      compare: 'checksum',
    });
    expect(bySum.actions.map((a) => a.path)).toEqual(['sub/b.txt']);
  });

  it('mirror deletes what the source lacks; --max-delete refuses and changes nothing; an empty source is refused', async () => {
    const src = new MemoryStorage();
    const dst = new MemoryStorage();
    await src.write('keep.txt', 'k');
    for (let i = 0; i < 11; i++) await dst.write(`old/${i}.txt`, 'x');
    await expect(
      runSync(side(src), side(dst), { ...copyOpts, mode: 'mirror', maxDelete: 10 }),
    ).rejects.toThrow(/would delete 11 files.*--max-delete 10; nothing was changed/);
    expect((await dst.stat('old/10.txt')).size).toBe(1);
    await expect(dst.stat('keep.txt')).rejects.toThrow(/no such/);
    const empty = new MemoryStorage();
    await expect(runSync(side(empty), side(dst), { ...copyOpts, mode: 'mirror' })).rejects.toThrow(
      /refusing to mirror .* no files/,
    );
    await expect(runSync(side(empty, 'missing'), side(dst), { ...copyOpts, mode: 'mirror' })).rejects.toThrow(
      /source does not exist/,
    );
    const res = await runSync(side(src), side(dst), { ...copyOpts, mode: 'mirror', maxDelete: 11 });
    expect(res.summary).toMatchObject({ copied: 1, deleted: 11, failed: 0 });
    expect((await dst.stat('keep.txt')).size).toBe(1);
  });

  it('move deletes each source file only after its copy, including files already there', async () => {
    const src = new MemoryStorage();
    const dst = new MemoryStorage();
    await src.write('a', 'aa');
    await src.write('b', 'bb', { mtime: new Date(1000_000) });
    await dst.write('b', 'bb', { mtime: new Date(2000_000) });
    const res = await runSync(side(src), side(dst), { ...copyOpts, mode: 'move' });
    expect(res.summary).toMatchObject({ copied: 1, deleted: 2, failed: 0 });
    await expect(src.stat('a')).rejects.toThrow();
    await expect(src.stat('b')).rejects.toThrow();
    expect((await dst.stat('a')).size).toBe(2);
  });

  it('a source file that vanished after the listing is skipped, not failed; a folder in the way fails that file', async () => {
    const src = new MemoryStorage();
    const dst = new MemoryStorage();
    await src.write('gone.txt', 'g');
    await src.write('x/y.txt', 'y');
    await src.write('dir', 'a file named like a folder there');
    await dst.mkdir('dir');
    const plan = await planSync(side(src), side(dst), copyOpts);
    expect(plan.failures.map((f) => f.error)).toEqual([expect.stringMatching(/a folder is in the way/)]);
    await src.remove('gone.txt');
    const events: SyncEvent[] = [];
    const summary = await executeActions(side(src), side(dst), plan.actions, {}, (e) => events.push(e));
    expect(summary).toMatchObject({ copied: 1, skipped: 1, failed: 0 });
    expect(events.find((e) => e.kind === 'skipped')).toMatchObject({ reason: 'vanished' });
  });

  it('append-only never replaces: a different file at the name is copied as `name (1).ext`, the same one is left', async () => {
    const src = new MemoryStorage();
    const dst = new MemoryStorage();
    await src.write('r/photo.jpg', 'new bytes');
    await src.write('r/same.txt', 'same', { mtime: new Date(1000_000) });
    await dst.write('r/photo.jpg', 'old');
    await dst.write('r/same.txt', 'same', { mtime: new Date(2000_000) });
    const opts: SyncOptions = { ...copyOpts, appendOnly: true };
    const res = await runSync(side(src), side(dst), opts);
    expect(res.summary).toMatchObject({ copied: 0, updated: 0, conflicts: 1, failed: 0 });
    expect((await dst.read('r/photo.jpg')).read().toString()).toBe('old');
    expect((await dst.read('r/photo (1).jpg')).read().toString()).toBe('new bytes');
    const again = await runSync(side(src), side(dst), opts);
    expect(again.plan.actions).toEqual([]);
    await expect(runSync(side(src), side(dst), { ...opts, mode: 'mirror' })).rejects.toThrow(/append-only/);
  });
});
