import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkedStorage } from '../../src/storage/checked.js';
import { LocalStorage } from '../../src/storage/local/local-storage.js';
import type { Entry } from '../../src/storage/types.js';

/**
 * A local listing stats the names of a folder several at a time ahead of the walk
 * (stats-ahead.ts): the same entries, sizes and errors as one stat at a time.
 */
describe('local listing with stats started ahead', () => {
  const many = 300; // several windows of stats ahead

  async function tree() {
    const root = await mkdtemp(join(tmpdir(), 'ferry-list-ahead-'));
    await mkdir(join(root, 'a/b'), { recursive: true });
    for (let i = 0; i < many; i++) await writeFile(join(root, 'a', `f${i}.bin`), Buffer.alloc(i));
    for (let i = 0; i < 40; i++) await writeFile(join(root, 'a/b', `g${i}.bin`), Buffer.alloc(i + 1000));
    return root;
  }

  async function list(root: string, path: string, recursive: boolean): Promise<Entry[]> {
    const out: Entry[] = [];
    for await (const e of checkedStorage(new LocalStorage(root)).list(path, { recursive })) out.push(e);
    return out;
  }

  it('lists every file once with its own size, recursive or not', async () => {
    const root = await tree();
    try {
      const all = await list(root, '', true);
      const files = all.filter((e) => e.type === 'file');
      expect(files).toHaveLength(many + 40);
      expect(new Set(files.map((e) => e.path)).size).toBe(many + 40);
      for (const e of files) {
        const m = /^a\/(?:f(\d+)|b\/g(\d+))\.bin$/.exec(e.path);
        expect(m, e.path).not.toBeNull();
        expect(e.size).toBe(m![1] !== undefined ? Number(m![1]) : Number(m![2]) + 1000);
      }
      expect(
        all
          .filter((e) => e.type === 'dir')
          .map((e) => e.path)
          .sort(),
      ).toEqual(['a', 'a/b']);
      const children = await list(root, 'a', false);
      expect(children).toHaveLength(many + 1);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it('a dangling symlink among many names: a recursive listing fails naming it, a plain one leaves it out', async () => {
    const root = await tree();
    try {
      await symlink(join(root, 'nowhere'), join(root, 'a', 'f150-dangling'));
      await expect(list(root, '', true)).rejects.toMatchObject({ code: 'NotFound', path: 'a/f150-dangling' });
      const children = await list(root, 'a', false);
      expect(children.map((e) => e.path)).not.toContain('a/f150-dangling');
      expect(children).toHaveLength(many + 1);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
