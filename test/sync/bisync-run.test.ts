import { describe, expect, it } from 'vitest';
import { StorageError } from '../../src/storage/errors.js';
import { MemoryStorage } from '../../src/storage/memory/memory-storage.js';
import type { Storage } from '../../src/storage/types.js';
import { runBisync } from '../../src/sync/bisync.js';
import { memoryStateStore } from '../../src/sync/bisync-state.js';
import type { SyncSide } from '../../src/sync/types.js';
import { collect, readText } from '../support/collect.js';

/**
 * runBisync over memory storages: what the two-step conflict and the state rules guarantee when
 * a write fails. The failing write comes from a wrapper refusing names that match a pattern.
 */

function refusing(inner: Storage, pattern: RegExp): Storage & { refuse: boolean } {
  const s = Object.create(inner) as Storage & { refuse: boolean };
  s.refuse = true;
  s.write = (path, body, options) => {
    if (s.refuse && pattern.test(path))
      return Promise.reject(new StorageError('PermissionDenied', `refused: ${path}`));
    return inner.write(path, body, options);
  };
  return s;
}

const side = (storage: Storage, display: string): SyncSide => ({ storage, root: '', display });

async function files(storage: Storage): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const e of await collect(storage.list('', { recursive: true })))
    if (e.type === 'file') out[e.path] = await readText(storage, e.path);
  return out;
}

describe('runBisync', () => {
  it('a conflict whose losing version cannot be kept overwrites nothing; the state is not saved; redone, it resolves', async () => {
    const one = new MemoryStorage();
    const two = refusing(new MemoryStorage(), /conflict/);
    await one.write('r.txt', 'v1', { mtime: new Date(1_000_000) });
    const store = memoryStateStore();
    const a = side(one, 'one');
    const b = side(two, 'two');
    expect((await runBisync(a, b, { store, resync: true })).saved).toBe(true);
    const saved = store.state;

    // path1's version is newer and keeps the name. path2's is first kept on path1 under the
    // conflict name (which works), then carried back to path2 (which the wrapper refuses).
    await one.write('r.txt', 'path1 edit', { mtime: new Date(3_000_000) });
    await two.write('r.txt', 'path2 edit', { mtime: new Date(2_000_000) });
    const run = await runBisync(a, b, { store });
    expect(run.summary.failed).toBe(1);
    expect(run.saved).toBe(false);
    expect(store.state).toBe(saved);
    const kept = run.plan.conflicts[0]?.name as string;
    expect(kept).toBe('r.conflict-path2-19700101T003320Z.txt');
    // Both versions are still there: path2's own file was overwritten only after it was kept on path1.
    expect(await files(one)).toEqual({ 'r.txt': 'path1 edit', [kept]: 'path2 edit' });
    expect(await files(two)).toEqual({ 'r.txt': 'path1 edit' });

    two.refuse = false;
    const again = await runBisync(a, b, { store });
    expect(again.summary.failed).toBe(0);
    expect(again.saved).toBe(true);
    expect(await files(two)).toEqual({ 'r.txt': 'path1 edit', [kept]: 'path2 edit' });
    expect(await files(one)).toEqual(await files(two));
    expect((await runBisync(a, b, { store })).plan.actions).toEqual([]);
  });

  it('the losing version refused on the winner side: neither side is overwritten', async () => {
    const one = refusing(new MemoryStorage(), /conflict/);
    const two = new MemoryStorage();
    await one.write('r.txt', 'v1', { mtime: new Date(1_000_000) });
    const store = memoryStateStore();
    const a = side(one, 'one');
    const b = side(two, 'two');
    await runBisync(a, b, { store, resync: true });
    await one.write('r.txt', 'path1 edit', { mtime: new Date(3_000_000) });
    await two.write('r.txt', 'path2 edit', { mtime: new Date(2_000_000) });
    const run = await runBisync(a, b, { store });
    expect(run.summary.failed).toBe(1);
    expect(run.summary.skipped).toBe(2); // the two follow-ups, held
    expect(run.saved).toBe(false);
    expect(await files(one)).toEqual({ 'r.txt': 'path1 edit' });
    expect(await files(two)).toEqual({ 'r.txt': 'path2 edit' });
  });

  it('a second run of the same pair while one holds the lock is refused', async () => {
    const store = memoryStateStore();
    const unlock = await store.lock();
    const run = runBisync(side(new MemoryStorage(), 'one'), side(new MemoryStorage(), 'two'), {
      store,
      resync: true,
    });
    await expect(run).rejects.toThrow(/another two-way sync of this pair is running/);
    await unlock();
  });
});
