import { mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ferry, requireBuiltCli } from '../support/cli.js';

/** Review of `ferry sync`'s overlap guard: a folder reached through a symlink is the same folder. */

describe('review: ferry sync refuses overlapping local folders, also through a symlink', () => {
  let dir: string;
  beforeAll(async () => {
    await requireBuiltCli();
    dir = await mkdtemp(join(tmpdir(), 'ferry-review-overlap-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('--mirror ./a ./link/b, link → a: exit 2, nothing changed', async () => {
    await mkdir(join(dir, 'a', 'b'), { recursive: true });
    await writeFile(join(dir, 'a', 'x.txt'), 'x');
    await writeFile(join(dir, 'a', 'b', 'y.txt'), 'y');
    await symlink(join(dir, 'a'), join(dir, 'link'));
    const res = await ferry(['sync', '--mirror', join(dir, 'a'), join(dir, 'link', 'b')]);
    expect(res.stderr).toMatch(/overlap/);
    expect(res.code).toBe(2);
    expect((await readdir(join(dir, 'a', 'b'))).sort()).toEqual(['y.txt']);
  }, 120_000);

  it('the plain case still refuses: --mirror ./a ./a/b', async () => {
    const res = await ferry(['sync', '--mirror', join(dir, 'a'), join(dir, 'a', 'b')]);
    expect(res.stderr).toMatch(/overlap/);
    expect(res.code).toBe(2);
  }, 120_000);
});
