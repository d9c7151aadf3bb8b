import { writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalStorage } from '../../src/storage/local/local-storage.js';
import { runSync, type SyncSide } from '../../src/sync/index.js';

/**
 * `--move` deletes a source file once its copy is verified. A write to the source landing after
 * the copy committed (after its read-side check) and before that delete must not be deleted with
 * it: the source is looked at again just before its delete. The 'done' event fires between the
 * two, so the test writes there.
 */

function side(storage: SyncSide['storage'], root: string): SyncSide {
  return { storage, root, display: `${storage.description}${root}` };
}

describe('--move: a source rewritten after its copy committed is not deleted', () => {
  let dir: string;
  let local: LocalStorage;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ferry-move-late-'));
    local = new LocalStorage(dir);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('the rewritten source is kept and the move of it fails; the others move', async () => {
    await mkdir(join(dir, 'src'), { recursive: true });
    await mkdir(join(dir, 'dst'), { recursive: true });
    await writeFile(join(dir, 'src', 'late.txt'), 'first version');
    await writeFile(join(dir, 'src', 'calm.txt'), 'never touched');
    let rewritten = false;
    const res = await runSync(
      side(local, 'src'),
      side(local, 'dst'),
      { mode: 'move', compare: 'size-mtime' },
      (e) => {
        if (e.kind === 'done' && e.action.op === 'copy' && e.action.path === 'late.txt' && !rewritten) {
          rewritten = true;
          writeFileSync(join(dir, 'src', 'late.txt'), 'second version, written late');
        }
      },
    );
    expect(rewritten).toBe(true);
    expect(await readFile(join(dir, 'src', 'late.txt'), 'utf8')).toBe('second version, written late');
    expect(res.summary.failed).toBe(1);
    expect(res.summary.deleted).toBe(1);
    await expect(readFile(join(dir, 'src', 'calm.txt'))).rejects.toThrow();
    expect(await readFile(join(dir, 'dst', 'calm.txt'), 'utf8')).toBe('never touched');
  });
});
