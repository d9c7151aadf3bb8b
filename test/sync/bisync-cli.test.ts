import { mkdir, mkdtemp, readdir, readFile, rename, rm, unlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StorageError } from '../../src/storage/errors.js';
import { removeTree } from '../../src/storage/operations.js';
import { conflictName } from '../../src/sync/bisync-plan.js';
import { cliEnv, ferry, requireBuiltCli } from '../support/cli.js';
import { collect, readText } from '../support/collect.js';
import { TEST_BUCKET, testS3Storage } from '../support/s3.js';

/**
 * `ferry sync --bidirectional` as a user runs it: the built CLI, a local folder (path1) and a
 * prefix on RGW (path2), the state in a private $XDG_STATE_HOME. Issue 11's must-show cases
 * (conflict, delete vs change, rename) and a run that fails half-way, then is redone.
 */
describe('ferry sync --bidirectional (built CLI, local ↔ S3)', () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let s3: Awaited<ReturnType<typeof testS3Storage>>;

  beforeAll(async () => {
    await requireBuiltCli();
    dir = await mkdtemp(join(tmpdir(), 'ferry-bisync-'));
    env = cliEnv({ XDG_STATE_HOME: join(dir, 'state') });
    s3 = await testS3Storage();
  });
  afterAll(async () => {
    await removeTree(s3.storage, '').catch(() => {});
    await rm(dir, { recursive: true, force: true });
    await s3.storage.close?.();
  });

  const local = (name: string) => join(dir, name);
  const url = (name: string) => `s3://${TEST_BUCKET}/${s3.conn.prefix}/${name}/`;
  const sync = (name: string, ...flags: string[]) =>
    ferry(['sync', '--bidirectional', ...flags, `${local(name)}/`, url(name)], env);

  async function writeLocal(name: string, files: Record<string, string>): Promise<void> {
    for (const [p, body] of Object.entries(files)) {
      await mkdir(join(local(name), p, '..'), { recursive: true });
      await writeFile(join(local(name), p), body);
    }
  }
  async function localFiles(name: string): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    const walk = async (d: string): Promise<void> => {
      for (const e of await readdir(d, { withFileTypes: true })) {
        if (e.isDirectory()) await walk(join(d, e.name));
        else out[relative(local(name), join(d, e.name))] = await readFile(join(d, e.name), 'utf8');
      }
    };
    await walk(local(name));
    return out;
  }
  async function s3Files(name: string): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    const listed = await collect(s3.storage.list(name, { recursive: true })).catch((err: unknown) => {
      if (StorageError.is(err, 'NotFound')) return [];
      throw err;
    });
    for (const e of listed)
      if (e.type === 'file') out[e.path.slice(name.length + 1)] = await readText(s3.storage, e.path);
    return out;
  }
  /** Both sides hold exactly `files`. */
  async function converged(name: string, files: Record<string, string>): Promise<void> {
    expect(await localFiles(name)).toEqual(files);
    expect(await s3Files(name)).toEqual(files);
  }
  /** The `plan` lines of a `--json` run, as `op path`. */
  const planned = (stdout: string): string[] =>
    stdout
      .trim()
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as { event: string; op: string; path: string; to?: string; on?: string })
      .filter((e) => e.event === 'plan')
      .map((e) => `${e.op} ${e.path}${e.to && e.to !== e.path ? ` -> ${e.to}` : ''}`);

  /** path1 holds `files`, `--resync` brings them to path2, then a plain run has nothing to do. */
  async function start(name: string, files: Record<string, string>): Promise<void> {
    await writeLocal(name, files);
    const first = await sync(name);
    expect(first.code).toBe(2);
    expect(first.stderr).toContain('the first run needs --resync');
    expect(await s3Files(name)).toEqual({});
    expect(await sync(name, '--resync')).toMatchObject({ code: 0 });
    const again = await sync(name, '--json');
    expect(again.code).toBe(0);
    expect(planned(again.stdout)).toEqual([]);
    await converged(name, files);
  }

  it('--resync: the union of both sides; a file that differs is kept twice (conflict pair); nothing deleted', async () => {
    await writeLocal('union', { 'only1.txt': 'one', 'both.txt': 'local both', 'same.txt': 'same' });
    await s3.storage.write('union/only2.txt', 'two');
    await s3.storage.write('union/both.txt', 'remote both!');
    await s3.storage.write('union/same.txt', 'same');
    const old = new Date(Date.now() - 3_600_000);
    await utimes(join(local('union'), 'both.txt'), old, old);
    const run = await sync('union', '--resync');
    expect(run.code).toBe(0);
    const kept = conflictName('both.txt', 'src', old);
    await converged('union', {
      'only1.txt': 'one',
      'only2.txt': 'two',
      'same.txt': 'same',
      'both.txt': 'remote both!',
      [kept]: 'local both',
    });
    expect(run.stderr).toContain(`path1's is kept as ${kept}`);
    expect(planned((await sync('union', '--json')).stdout)).toEqual([]);
  }, 120_000);

  it('conflict: changed on both sides → both versions kept on both sides, the older under a conflict name', async () => {
    await start('conflict', { 'report.txt': 'v1', 'other.txt': 'o' });
    const old = new Date(Date.now() - 3_600_000);
    await writeLocal('conflict', { 'report.txt': 'edited on the laptop' });
    await utimes(join(local('conflict'), 'report.txt'), old, old);
    await s3.storage.write('conflict/report.txt', 'edited in the bucket');
    const run = await sync('conflict');
    expect(run.code).toBe(0);
    const kept = conflictName('report.txt', 'src', old);
    expect(kept).toMatch(/^report\.conflict-path1-\d{8}T\d{6}Z\.txt$/);
    await converged('conflict', {
      'report.txt': 'edited in the bucket',
      [kept]: 'edited on the laptop',
      'other.txt': 'o',
    });
    expect(planned((await sync('conflict', '--json')).stdout)).toEqual([]);
  }, 120_000);

  it('delete vs change: the changed file wins and is copied back, on either side', async () => {
    await start('delchange', { 'x.txt': 'x1', 'y.txt': 'y1', 'z.txt': 'z1' });
    await unlink(join(local('delchange'), 'x.txt'));
    await s3.storage.write('delchange/x.txt', 'x changed in the bucket');
    await s3.storage.remove('delchange/y.txt');
    await writeLocal('delchange', { 'y.txt': 'y changed on the laptop' });
    const run = await sync('delchange');
    expect(run.code).toBe(0);
    await converged('delchange', {
      'x.txt': 'x changed in the bucket',
      'y.txt': 'y changed on the laptop',
      'z.txt': 'z1',
    });
    // Deleted on one side and unchanged on the other: deleted there too.
    await unlink(join(local('delchange'), 'z.txt'));
    expect(await sync('delchange')).toMatchObject({ code: 0 });
    await converged('delchange', { 'x.txt': 'x changed in the bucket', 'y.txt': 'y changed on the laptop' });
  }, 180_000);

  it('rename (seen as delete + new) on either side is carried over; --max-delete and an emptied side refuse', async () => {
    await start('rename', { 'a.txt': 'alpha', 'dir/c.txt': 'charlie', 'k.txt': 'k' });
    await rename(join(local('rename'), 'a.txt'), join(local('rename'), 'b.txt'));
    await s3.storage.rename?.('rename/dir/c.txt', 'rename/dir/d.txt');
    const dry = await sync('rename', '--dry-run', '--json');
    expect(dry.code).toBe(0);
    expect(planned(dry.stdout).sort()).toEqual([
      'copy b.txt',
      'copy dir/d.txt',
      'delete a.txt',
      'delete dir/c.txt',
    ]);
    const refused = await sync('rename', '--max-delete', '1');
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('would delete 2 files, more than --max-delete 1');
    expect(await localFiles('rename')).toEqual({ 'b.txt': 'alpha', 'dir/c.txt': 'charlie', 'k.txt': 'k' });
    expect(await sync('rename', '--max-delete', '2')).toMatchObject({ code: 0 });
    await converged('rename', { 'b.txt': 'alpha', 'dir/d.txt': 'charlie', 'k.txt': 'k' });

    // Every file gone from path2 (a wrong prefix, a wiped bucket): refused, path1 untouched.
    await removeTree(s3.storage, 'rename');
    const empty = await sync('rename');
    expect(empty.code).toBe(2);
    expect(empty.stderr).toContain('has no files but had 3 at the last run');
    expect(await localFiles('rename')).toEqual({ 'b.txt': 'alpha', 'dir/d.txt': 'charlie', 'k.txt': 'k' });
  }, 180_000);

  it('a run that fails half-way (a name path1 cannot store) saves no state; redone, it converges with nothing lost or doubled', async () => {
    await start('partial', { 'c.txt': 'c1', 'd.txt': 'd1', 'k.txt': 'k' });
    const tooLong = `${'n'.repeat(300)}.txt`; // a local file name holds at most 255 bytes
    await s3.storage.write('partial/g.txt', 'new in the bucket');
    await s3.storage.write('partial/c.txt', 'c changed in the bucket');
    await s3.storage.write(`partial/${tooLong}`, 'cannot land locally');
    await unlink(join(local('partial'), 'd.txt'));
    await writeLocal('partial', { 'n.txt': 'new on the laptop' });

    const failed = await sync('partial');
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain(tooLong);
    expect(failed.stderr).toContain('state NOT saved');
    // Everything else was done, and nothing is lost on either side.
    expect(await localFiles('partial')).toEqual({
      'c.txt': 'c changed in the bucket',
      'g.txt': 'new in the bucket',
      'k.txt': 'k',
      'n.txt': 'new on the laptop',
    });
    expect(await s3Files('partial')).toEqual({
      'c.txt': 'c changed in the bucket',
      'g.txt': 'new in the bucket',
      'k.txt': 'k',
      'n.txt': 'new on the laptop',
      [tooLong]: 'cannot land locally',
    });

    // The same run again, against the old state: it redoes only what failed (and fails again).
    const again = await sync('partial', '--json');
    expect(again.code).toBe(1);
    expect(planned(again.stdout)).toEqual([`copy ${tooLong}`]);

    // The user renames the object to a name that fits: the next run converges, no conflict copies.
    await s3.storage.rename?.(`partial/${tooLong}`, 'partial/long-name.txt');
    const fixed = await sync('partial', '--json');
    expect(fixed.code).toBe(0);
    expect(planned(fixed.stdout)).toEqual(['copy long-name.txt']);
    await converged('partial', {
      'c.txt': 'c changed in the bucket',
      'g.txt': 'new in the bucket',
      'k.txt': 'k',
      'n.txt': 'new on the laptop',
      'long-name.txt': 'cannot land locally',
    });
    expect(planned((await sync('partial', '--json')).stdout)).toEqual([]);
  }, 240_000);
});
