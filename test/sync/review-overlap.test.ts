import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliEnv, ferry, ferryBin, requireBuiltCli } from '../support/cli.js';
import { TEST_BUCKET, testS3 } from '../support/s3.js';

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

  it('a folder bind-mounted elsewhere (a mount namespace of its own: unshare -rm): --move onto itself and --mirror into it refused, nothing deleted', async () => {
    const real = join(dir, 'bound');
    const mnt = join(dir, 'mnt');
    await mkdir(join(real, 'sub'), { recursive: true });
    await mkdir(mnt);
    await writeFile(join(real, 'sub', 'x.txt'), 'x');
    await writeFile(join(real, 'z.txt'), 'z');
    // The bind mount lives only in the namespace of the one `ferry` run (nothing to clean up).
    const inMount = (...args: string[]) =>
      promisify(execFile)(
        'unshare',
        [
          '-rm',
          'sh',
          '-c',
          'mount --bind "$1" "$2" && shift 2 && exec "$@"',
          'sh',
          real,
          mnt,
          process.execPath,
          ferryBin,
          ...args,
        ],
        { env: cliEnv() },
      ).then(
        (r) => ({ code: 0, stderr: r.stderr }),
        (e: { code?: number; stderr?: string }) => ({ code: e.code, stderr: e.stderr ?? '' }),
      );
    const moved = await inMount('sync', '--move', mnt, real);
    expect(moved.stderr).toMatch(/overlap/);
    expect(moved.code).toBe(2);
    const mirrored = await inMount('sync', '--mirror', join(mnt, 'sub'), real);
    expect(mirrored.stderr).toMatch(/overlap/);
    expect(mirrored.code).toBe(2);
    expect((await readdir(real)).sort()).toEqual(['sub', 'z.txt']);
    expect(await readdir(join(real, 'sub'))).toEqual(['x.txt']);
  }, 120_000);

  it('the plain case still refuses: --mirror ./a ./a/b', async () => {
    const res = await ferry(['sync', '--mirror', join(dir, 'a'), join(dir, 'a', 'b')]);
    expect(res.stderr).toMatch(/overlap/);
    expect(res.code).toBe(2);
  }, 120_000);

  it('one bucket spelt two ways (s3://b/a/sub and s3+http://localhost:…/b/a): --mirror and --move refused, nothing changed', async () => {
    const root = `review-overlap-${process.pid}`;
    const src = join(dir, 'seed');
    await mkdir(join(src, 'sub'), { recursive: true });
    await writeFile(join(src, 'sub', 'x.txt'), 'x');
    await writeFile(join(src, 'sub', 'y.txt'), 'y');
    await writeFile(join(src, 'z.txt'), 'z');
    expect((await ferry(['sync', src, `s3://${TEST_BUCKET}/${root}/a/`])).code).toBe(0);
    const other = new URL(testS3().endpoint);
    other.hostname = other.hostname === 'localhost' ? '127.0.0.1' : 'localhost';
    const alias = `s3+http://${other.host}/${TEST_BUCKET}/${root}/a/`;
    for (const mode of ['--mirror', '--move']) {
      const res = await ferry(['sync', mode, `s3://${TEST_BUCKET}/${root}/a/sub/`, alias]);
      expect(res.stderr, mode).toMatch(/look like one folder seen twice/);
      expect(res.code, mode).toBe(2);
    }
    // One folder spelt twice: a move would find every file "already there" and delete it.
    const same = `s3+http://${other.host}/${TEST_BUCKET}/${root}/a/`;
    const moved = await ferry(['sync', '--move', `s3://${TEST_BUCKET}/${root}/a/`, same]);
    expect(moved.stderr).toMatch(/look like one folder seen twice/);
    expect(moved.code).toBe(2);
    const left = await ferry(['ls', '-R', `s3://${TEST_BUCKET}/${root}/a/`]);
    expect(left.stdout).toMatch(/sub\/x\.txt/);
    expect(left.stdout).toMatch(/sub\/y\.txt/);
    expect(left.stdout).toMatch(/z\.txt/);
    await ferry(['rm', '-r', `s3://${TEST_BUCKET}/${root}/`]);
  }, 120_000);
});
