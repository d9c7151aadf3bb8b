import { describe, expect, it } from 'vitest';
import { StorageError } from '../../src/storage/errors.js';
import { baseName, parentOf } from '../../src/storage/paths.js';
import type { Entry } from '../../src/storage/types.js';
import { conflictName, contentCandidates, planBisync, type SideFiles } from '../../src/sync/bisync-plan.js';
import { type PathRecord, recordOf } from '../../src/sync/bisync-state.js';
import type { SyncAction } from '../../src/sync/types.js';

/** The two-way planner as a pure function: saved state × listing 1 × listing 2 → actions. */

const T0 = Date.UTC(2026, 10, 27, 10, 0, 0);

/** A file `path` of `size` bytes, listed with time T0 + `t` seconds. */
function file(path: string, size = 5, t = 0, etag?: string): Entry {
  return { path, name: baseName(path), type: 'file', size, mtime: new Date(T0 + t * 1000), etag };
}

function side(...entries: Entry[]): SideFiles {
  const files = new Map(entries.map((e) => [e.path, e]));
  const dirs = new Set<string>();
  for (const e of entries) for (let p = parentOf(e.path); p !== ''; p = parentOf(p)) dirs.add(p);
  return { files, dirs, count: entries.length };
}

/** The state as a run that saw these listings would have saved it. */
function saved(src: SideFiles, dst: SideFiles): Map<string, PathRecord> {
  const m = new Map<string, PathRecord>();
  for (const [s, files] of [
    ['src', src.files],
    ['dst', dst.files],
  ] as const)
    for (const [p, e] of files) m.set(p, { ...m.get(p), [s]: recordOf(e) });
  return m;
}

const display = { src: '/home/me/docs', dst: 's3://bucket/docs' };

/** Actions as short strings: `copy src:a.txt -> a.txt (new)`, `delete dst:b.txt (deleted)`. */
function short(actions: readonly SyncAction[]): string[] {
  return actions.map((a) =>
    a.op === 'copy'
      ? `copy ${a.from}:${a.path} -> ${a.to} (${a.reason})`
      : a.op === 'delete'
        ? `delete ${a.on}:${a.path} (${a.reason})`
        : `mkdir ${a.on}:${a.path}`,
  );
}

// Every row: the last run's two listings (→ the saved state), this run's two listings, the plan.
const cases: {
  name: string;
  before: [Entry[], Entry[]];
  now: [Entry[], Entry[]];
  actions: string[];
  unchanged?: number;
}[] = [
  {
    name: 'nothing changed',
    before: [[file('a.txt')], [file('a.txt', 5, 60)]],
    now: [[file('a.txt')], [file('a.txt', 5, 60)]],
    actions: [],
    unchanged: 1,
  },
  {
    name: 'new on path1 → copied to path2',
    before: [[], []],
    now: [[file('n.txt')], []],
    actions: ['copy src:n.txt -> n.txt (new)'],
  },
  {
    name: 'new on path2 → copied to path1',
    before: [[file('a.txt')], [file('a.txt')]],
    now: [[file('a.txt')], [file('a.txt'), file('sub/n.txt')]],
    actions: ['copy dst:sub/n.txt -> sub/n.txt (new)'],
    unchanged: 1,
  },
  {
    name: 'changed on path1 only (size) → copied over',
    before: [[file('a.txt')], [file('a.txt', 5, 60)]],
    now: [[file('a.txt', 9)], [file('a.txt', 5, 60)]],
    actions: ['copy src:a.txt -> a.txt (changed)'],
  },
  {
    name: 'changed on path2 only (time) → copied over',
    before: [[file('a.txt')], [file('a.txt', 5, 60)]],
    now: [[file('a.txt')], [file('a.txt', 5, 120)]],
    actions: ['copy dst:a.txt -> a.txt (changed)'],
  },
  {
    name: 'changed on path2 only (ETag, same size and time) → copied over',
    before: [[file('a.txt')], [file('a.txt', 5, 60, '"e1"')]],
    now: [[file('a.txt')], [file('a.txt', 5, 60, '"e2"')]],
    actions: ['copy dst:a.txt -> a.txt (changed)'],
  },
  {
    name: 'changed on both sides, differently → conflict: the older kept under a conflict name on both sides',
    before: [[file('r.txt')], [file('r.txt')]],
    now: [[file('r.txt', 7, 100)], [file('r.txt', 8, 200)]],
    actions: [
      'copy src:r.txt -> r.conflict-path1-20261127T100140Z.txt (conflict)',
      'copy dst:r.conflict-path1-20261127T100140Z.txt -> r.conflict-path1-20261127T100140Z.txt (new)',
      'copy dst:r.txt -> r.txt (changed)',
    ],
  },
  {
    name: 'changed on both sides to the same content (size and time) → nothing',
    before: [[file('a.txt')], [file('a.txt')]],
    now: [[file('a.txt', 7, 100)], [file('a.txt', 7, 100)]],
    actions: [],
    unchanged: 1,
  },
  {
    name: 'deleted on path1, unchanged on path2 → deleted on path2 (and new on both, the same → nothing)',
    before: [[file('d.txt')], [file('d.txt', 5, 60)]],
    now: [[file('keep.txt')], [file('d.txt', 5, 60), file('keep.txt')]],
    actions: ['delete dst:d.txt (deleted)'],
    unchanged: 1,
  },
  {
    name: 'deleted on path2, unchanged on path1 → deleted on path1',
    before: [
      [file('d.txt'), file('k')],
      [file('d.txt'), file('k')],
    ],
    now: [[file('d.txt'), file('k')], [file('k')]],
    actions: ['delete src:d.txt (deleted)'],
    unchanged: 1,
  },
  {
    name: 'deleted on path1, changed on path2 → the changed one wins, copied back',
    before: [
      [file('x.txt'), file('k')],
      [file('x.txt'), file('k')],
    ],
    now: [[file('k')], [file('x.txt', 6, 300), file('k')]],
    actions: ['copy dst:x.txt -> x.txt (new)'],
    unchanged: 1,
  },
  {
    name: 'deleted on path2, changed on path1 → copied back to path2',
    before: [
      [file('x.txt'), file('k')],
      [file('x.txt'), file('k')],
    ],
    now: [[file('x.txt', 5, 300), file('k')], [file('k')]],
    actions: ['copy src:x.txt -> x.txt (new)'],
    unchanged: 1,
  },
  {
    name: 'renamed on path1 → delete of the old name + the new name copied',
    before: [
      [file('old.txt'), file('k')],
      [file('old.txt'), file('k')],
    ],
    now: [
      [file('new.txt'), file('k')],
      [file('old.txt'), file('k')],
    ],
    actions: ['copy src:new.txt -> new.txt (new)', 'delete dst:old.txt (deleted)'],
    unchanged: 1,
  },
  {
    name: 'deleted on both sides → nothing',
    before: [
      [file('gone'), file('k')],
      [file('gone'), file('k')],
    ],
    now: [[file('k')], [file('k')]],
    actions: [],
    unchanged: 1,
  },
  {
    name: 'a folder deleted on path2 → its files deleted on path1; a new folder copied file by file',
    before: [
      [file('old/a'), file('old/deep/b'), file('k')],
      [file('old/a'), file('old/deep/b'), file('k')],
    ],
    now: [
      [file('old/a'), file('old/deep/b'), file('k')],
      [file('k'), file('fresh/x/y.txt')],
    ],
    actions: [
      'copy dst:fresh/x/y.txt -> fresh/x/y.txt (new)',
      'delete src:old/a (deleted)',
      'delete src:old/deep/b (deleted)',
    ],
    unchanged: 1,
  },
  {
    name: 'saved on path1 only, unchanged, absent on path2 → copied (never lost)',
    before: [[file('a')], []],
    now: [[file('a')], []],
    actions: ['copy src:a -> a (new)'],
  },
];

describe('planBisync', () => {
  it.each(cases)('$name', (c) => {
    const state = saved(side(...c.before[0]), side(...c.before[1]));
    const plan = planBisync({ state, src: side(...c.now[0]), dst: side(...c.now[1]), display });
    expect(short(plan.actions)).toEqual(c.actions);
    expect(plan.failures).toEqual([]);
    expect(plan.unchanged).toBe(c.unchanged ?? 0);
  });

  it('conflict: path1 keeps the name when it is the newer; the name says path2 and its time', () => {
    const state = saved(side(file('notes')), side(file('notes')));
    const plan = planBisync({
      state,
      src: side(file('notes', 3, 500)),
      dst: side(file('notes', 4, 400)),
      display,
    });
    expect(plan.conflicts).toEqual([
      {
        path: 'notes',
        name: 'notes.conflict-path2-20261127T100640Z',
        winner: 'src',
        loser: 'dst',
      },
    ]);
    expect(short(plan.actions)[0]).toBe('copy dst:notes -> notes.conflict-path2-20261127T100640Z (conflict)');
  });

  it('conflict redone after an interrupted run reuses the kept copy and plans it once', () => {
    const state = saved(side(file('r.txt')), side(file('r.txt')));
    const kept = 'r.conflict-path1-20261127T100140Z.txt';
    // The last run copied path1's version over as `kept`, then stopped.
    const plan = planBisync({
      state,
      src: side(file('r.txt', 7, 100)),
      dst: side(file('r.txt', 8, 200), file(kept, 7, 100)),
      display,
    });
    expect(short(plan.actions)).toEqual([
      `copy src:r.txt -> ${kept} (conflict)`,
      `copy dst:${kept} -> ${kept} (new)`,
      'copy dst:r.txt -> r.txt (changed)',
    ]);
  });

  it('conflict name taken by another file → a suffixed name', () => {
    const taken = 'r.conflict-path1-20261127T100140Z.txt';
    const state = saved(side(file('r.txt')), side(file('r.txt')));
    const plan = planBisync({
      state,
      src: side(file('r.txt', 7, 100), file(taken, 99)),
      dst: side(file('r.txt', 8, 200)),
      display,
    });
    expect(plan.conflicts[0]?.name).toBe('r.conflict-path1-20261127T100140Z (1).txt');
  });

  it('changed on both with the same size but other times: identical by content → nothing', () => {
    const state = saved(side(file('a')), side(file('a')));
    const input = { state, src: side(file('a', 6, 100)), dst: side(file('a', 6, 900)) };
    expect(contentCandidates(input)).toEqual(['a']);
    expect(planBisync({ ...input, identical: new Set(['a']), display }).actions).toEqual([]);
    expect(planBisync({ ...input, display }).conflicts).toHaveLength(1);
  });

  it('--resync (no state): the union, nothing deleted, a file that differs becomes a conflict pair', () => {
    const plan = planBisync({
      src: side(file('only1'), file('both'), file('diff', 5, 10)),
      dst: side(file('only2'), file('both'), file('diff', 6, 20)),
      display,
    });
    expect(plan.resync).toBe(true);
    expect(short(plan.actions)).toEqual([
      'copy src:diff -> diff.conflict-path1-20261127T100010Z (conflict)',
      'copy dst:diff.conflict-path1-20261127T100010Z -> diff.conflict-path1-20261127T100010Z (new)',
      'copy dst:diff -> diff (changed)',
      'copy src:only1 -> only1 (new)',
      'copy dst:only2 -> only2 (new)',
    ]);
    expect(plan.unchanged).toBe(1);
  });

  it('a file where the other side has a folder → a failure, never a skip or a loss', () => {
    const plan = planBisync({
      state: new Map(),
      src: side(file('x')),
      dst: side(file('x/y')),
      display,
    });
    expect(plan.actions).toEqual([]);
    expect(plan.failures.map((f) => f.error)).toEqual([
      'a folder is in the way: s3://bucket/docs/x',
      'a file is in the way at x: /home/me/docs/x/y',
    ]);
  });

  it('refuses when a side has no files but the state says it had some', () => {
    const state = saved(side(file('a'), file('b')), side(file('a'), file('b')));
    const run = () => planBisync({ state, src: side(file('a'), file('b')), dst: side(), display });
    expect(run).toThrow(StorageError);
    expect(run).toThrow(/s3:\/\/bucket\/docs has no files but had 2 at the last run/);
  });

  it('--max-delete: refuses a plan deleting more', () => {
    const names = ['1', '2', '3'];
    const state = saved(
      side(...names.map((n) => file(n)), file('k')),
      side(...names.map((n) => file(n)), file('k')),
    );
    const input = {
      state,
      src: side(file('k')),
      dst: side(...names.map((n) => file(n)), file('k')),
      display,
    };
    expect(() => planBisync({ ...input, maxDelete: 2 })).toThrow(
      /would delete 3 files, more than --max-delete 2/,
    );
    expect(planBisync({ ...input, maxDelete: 3 }).actions).toHaveLength(3);
  });
});

describe('conflictName', () => {
  it('keeps the extension last and tells the side and the losing version time (UTC)', () => {
    const t = new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 678));
    expect(conflictName('a/report.txt', 'dst', t)).toBe('a/report.conflict-path2-20260102T030405Z.txt');
    expect(conflictName('.bashrc', 'src', t)).toBe('.bashrc.conflict-path1-20260102T030405Z');
    expect(conflictName('Makefile', 'src', t)).toBe('Makefile.conflict-path1-20260102T030405Z');
  });
});

describe('two-way deletes without --max-delete (review of issue 11: rclone bisync refuses over 50 %)', () => {
  const many = (n: number, from = 0) => Array.from({ length: n }, (_, i) => file(`f${from + i}.txt`));
  it('refuses when a side lost more than half of its files (over 10), changing nothing', () => {
    const a = side(...many(30));
    const b = side(...many(30));
    const state = saved(a, b);
    // 16 of 30 files vanished from path1: their deletes would reach path2.
    const a2 = side(...many(14));
    expect(() => planBisync({ state, src: a2, dst: b, display })).toThrow(
      /16 of the 30 files at s3:\/\/bucket\/docs/,
    );
    // --max-delete given: the user's limit decides.
    expect(planBisync({ state, src: a2, dst: b, display, maxDelete: 16 }).actions).toHaveLength(16);
  });
  it('lets half or fewer through, and a few deletes in a small tree', () => {
    const a = side(...many(30));
    const b = side(...many(30));
    const state = saved(a, b);
    expect(planBisync({ state, src: side(...many(15)), dst: b, display }).actions).toHaveLength(15);
    const small = side(...many(4));
    expect(
      planBisync({ state: saved(small, small), src: side(...many(1)), dst: small, display }).actions,
    ).toHaveLength(3);
  });
});
