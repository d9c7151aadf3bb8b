import { mkdir, mkdtemp, readdir, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { checkedStorage } from '../../src/storage/checked.js';
import { LocalStorage } from '../../src/storage/local/local-storage.js';

/**
 * Review of LocalStorage.write, the lean small-file path (small-write.ts) and the general one
 * side by side: the path guard with symlinks that lead nowhere yet, and bodies of string chunks.
 */

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});
async function fresh() {
  const top = await mkdtemp(join(tmpdir(), 'ferry-review-write-'));
  dirs.push(top);
  const root = join(top, 'root');
  const outside = join(top, 'outside');
  await mkdir(root);
  await mkdir(outside);
  return { root, outside, s: checkedStorage(new LocalStorage(root)) };
}

/** The small path (size known, ≤ 1 MiB) and the general one (size unknown). */
const WAYS = [
  ['small', { size: 5 }],
  ['general', {}],
] as const;

describe('review: local writes', () => {
  for (const [way, options] of WAYS) {
    it(`${way}: a folder that is a symlink to a missing folder outside the root fails, nothing made outside`, async () => {
      const { root, outside, s } = await fresh();
      await symlink(join(outside, 'not-yet'), join(root, 'a'));
      const got = await s.write('a/b/f.txt', Buffer.from('hello'), options).catch((e: Error) => e);
      expect(await readdir(outside), 'nothing created outside the root').toEqual([]);
      expect(got).toBeInstanceOf(Error); // NotADirectory (mkdir -p meets the dangling link)
    });

    it(`${way}: a file name that is a symlink to a missing file outside is replaced, never followed`, async () => {
      const { root, outside, s } = await fresh();
      await symlink(join(outside, 'target.txt'), join(root, 'f.txt'));
      await s.write('f.txt', Buffer.from('hello'), options).catch(() => {});
      expect(await readdir(outside), 'nothing created outside the root').toEqual([]);
    });

    it(`${way}: a body of string chunks is written as UTF-8`, async () => {
      const { root, s } = await fresh();
      const text = 'héllo wörld ✓';
      const size = Buffer.byteLength(text);
      await s.write('t.txt', Readable.from(['héllo ', 'wörld ✓']), way === 'small' ? { size } : {});
      expect(await readFile(join(root, 't.txt'), 'utf8')).toBe(text);
      expect((await s.stat('t.txt')).size).toBe(size);
    });
  }
});
