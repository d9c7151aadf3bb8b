import { mkdir, mkdtemp, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalStorage } from '../../src/storage/local/local-storage.js';
import { runSync, type SyncSide } from '../../src/sync/index.js';

/** Review of `--move`: a source file is deleted only when its content is proven at the destination. */

function side(storage: SyncSide['storage'], root: string): SyncSide {
  return { storage, root, display: `${storage.description}${root}` };
}

describe('review: --move never deletes a source whose content is not at the destination', () => {
  let dir: string;
  let local: LocalStorage;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ferry-review-move-'));
    local = new LocalStorage(dir);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('same size, destination newer, different content: the source content survives', async () => {
    await mkdir(join(dir, 'a'), { recursive: true });
    await mkdir(join(dir, 'b'), { recursive: true });
    await writeFile(join(dir, 'a', 'report.txt'), 'version two!');
    await writeFile(join(dir, 'b', 'report.txt'), 'version one.');
    // The source was edited before the destination's copy was written (another machine's upload).
    const old = new Date(Date.now() - 3600_000);
    await utimes(join(dir, 'a', 'report.txt'), old, old);
    const res = await runSync(side(local, 'a'), side(local, 'b'), { mode: 'move', compare: 'size-mtime' });
    expect(res.summary.failed).toBe(0);
    // The source's bytes must exist somewhere: either still at the source or moved to the destination.
    const atDst = await readFile(join(dir, 'b', 'report.txt'), 'utf8');
    const atSrc = await stat(join(dir, 'a', 'report.txt')).then(
      () => readFile(join(dir, 'a', 'report.txt'), 'utf8'),
      () => undefined,
    );
    expect([atDst, atSrc]).toContain('version two!');
  });

  it('same size, same content: the source is deleted (nothing copied)', async () => {
    await mkdir(join(dir, 'c'), { recursive: true });
    await mkdir(join(dir, 'd'), { recursive: true });
    await writeFile(join(dir, 'c', 'x.txt'), 'same bytes');
    await writeFile(join(dir, 'd', 'x.txt'), 'same bytes');
    const old = new Date(Date.now() - 3600_000);
    await utimes(join(dir, 'c', 'x.txt'), old, old);
    const res = await runSync(side(local, 'c'), side(local, 'd'), { mode: 'move', compare: 'size-mtime' });
    expect(res.summary).toMatchObject({ failed: 0, copied: 0, updated: 0, deleted: 1 });
    await expect(stat(join(dir, 'c', 'x.txt'))).rejects.toThrow();
    expect(await readFile(join(dir, 'd', 'x.txt'), 'utf8')).toBe('same bytes');
  });
});
