import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalStorage } from '../../src/storage/local/local-storage.js';
import { runSync, type SyncEvent, type SyncSide } from '../../src/sync/index.js';

/**
 * Review of `--mirror`: docs/sync.md promises that mirror deletes are held back when anything
 * failed, "so a run that could not copy never deletes at the destination". A copy the plan itself
 * refuses (a folder in the way) is such a failure.
 */

function side(storage: SyncSide['storage'], root: string): SyncSide {
  return { storage, root, display: `${storage.description}${root}` };
}

describe('review: a mirror whose plan refused a copy deletes nothing', () => {
  let dir: string;
  let local: LocalStorage;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ferry-review-held-'));
    local = new LocalStorage(dir);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('a folder in the way of one copy: that copy fails and the mirror deletes are held', async () => {
    await mkdir(join(dir, 'src'), { recursive: true });
    await mkdir(join(dir, 'dst', 'x'), { recursive: true });
    await writeFile(join(dir, 'src', 'x'), 'a file named x');
    await writeFile(join(dir, 'src', 'keep.txt'), 'keep');
    await writeFile(join(dir, 'dst', 'x', 'inner.txt'), 'inner');
    await writeFile(join(dir, 'dst', 'old.txt'), 'old');
    const events: SyncEvent[] = [];
    const res = await runSync(
      side(local, 'src'),
      side(local, 'dst'),
      { mode: 'mirror', compare: 'size-mtime' },
      (e) => events.push(e),
    );
    expect(res.summary.failed).toBe(1);
    expect(res.summary.deleted).toBe(0);
    expect(events.filter((e) => e.kind === 'skipped' && e.reason === 'held')).toHaveLength(2);
    expect((await readdir(join(dir, 'dst'))).sort()).toEqual(['keep.txt', 'old.txt', 'x']);
    expect(await readdir(join(dir, 'dst', 'x'))).toEqual(['inner.txt']);
  });
});
