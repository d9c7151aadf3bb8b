import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeTree } from '../../src/storage/operations.js';
import { runBisync } from '../../src/sync/bisync.js';
import { memoryStateStore } from '../../src/sync/bisync-state.js';
import type { SyncSide } from '../../src/sync/types.js';
import { collect, readText } from '../support/collect.js';
import { testS3, testS3Storage } from '../support/s3.js';

/**
 * Two-way sync (runBisync, what `ferry sync --bidirectional` runs) between two spellings of one
 * bucket on the real RGW: `http://127.0.0.1:…` and `http://localhost:…`, two S3Storages on one
 * prefix. One folder and a folder inside it would copy the tree into itself on every run; one
 * folder spelt twice does nothing at all.
 */
describe('two-way sync over one bucket spelt two ways', () => {
  let one: Awaited<ReturnType<typeof testS3Storage>>;
  let two: Awaited<ReturnType<typeof testS3Storage>>;

  beforeAll(async () => {
    one = await testS3Storage();
    const other = new URL(testS3().endpoint);
    other.hostname = other.hostname === 'localhost' ? '127.0.0.1' : 'localhost';
    two = await testS3Storage({ prefix: one.conn.prefix, endpoint: other.origin });
  });
  afterAll(async () => {
    await removeTree(one.storage, '').catch(() => {});
  });

  const side = (s: typeof one, root: string, display: string): SyncSide => ({
    storage: s.storage,
    root,
    display,
  });
  async function files(): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    for (const e of await collect(one.storage.list('', { recursive: true })))
      if (e.type === 'file') out[e.path] = await readText(one.storage, e.path);
    return out;
  }

  it('a folder and a folder inside it (either way round, --resync or not): refused, nothing copied', async () => {
    await one.storage.write('n/sub/x.txt', 'ex');
    await one.storage.write('n/sub/y.txt', 'why');
    await one.storage.write('n/z.txt', 'zed');
    const before = await files();
    const inner = side(one, 'n/sub', 'one:n/sub/');
    const outer = side(two, 'n', 'two:n/');
    for (const [a, b] of [
      [inner, outer],
      [outer, inner],
    ] as const) {
      const store = memoryStateStore();
      await expect(runBisync(a, b, { store, resync: true })).rejects.toThrow(
        /look like one folder seen twice/,
      );
      expect(store.state).toBeUndefined();
      // A state saved earlier (the pair synced before the folders came to overlap): refused too.
      const saved = memoryStateStore({
        version: 1,
        path1: a.display,
        path2: b.display,
        savedAt: '',
        files: new Map(),
      });
      await expect(runBisync(a, b, { store: saved })).rejects.toThrow(/look like one folder seen twice/);
    }
    expect(await files()).toEqual(before);
  });

  it('one folder spelt twice: --resync, then a change, a new file and a delete on one spelling: nothing is copied or deleted', async () => {
    await one.storage.write('s/a.txt', 'alpha');
    await one.storage.write('s/d/b.txt', 'bravo');
    const store = memoryStateStore();
    const a = side(one, 's', 'one:s/');
    const b = side(two, 's', 'two:s/');
    const first = await runBisync(a, b, { store, resync: true });
    expect(first.plan.actions).toEqual([]);
    expect(first.saved).toBe(true);
    await one.storage.write('s/a.txt', 'alpha, changed');
    await one.storage.write('s/new.txt', 'new');
    await one.storage.remove('s/d/b.txt');
    const run = await runBisync(a, b, { store });
    expect(run.plan.actions).toEqual([]);
    expect(run.plan.conflicts).toEqual([]);
    expect(run.summary).toMatchObject({ copied: 0, updated: 0, deleted: 0, conflicts: 0, failed: 0 });
    const left = await files();
    expect(left['s/a.txt']).toBe('alpha, changed');
    expect(left['s/new.txt']).toBe('new');
    expect(left['s/d/b.txt']).toBeUndefined();
    expect(Object.keys(left).filter((k) => k.startsWith('s/'))).toHaveLength(2);
  });
});
