import { StorageError } from '../storage/errors.js';
import { baseName, joinPath, parentOf } from '../storage/paths.js';
import type { Entry, StoragePath } from '../storage/types.js';
import { changedSince, type PathRecord, type SideRecord } from './bisync-state.js';
import { seconds } from './compare.js';
import type { SideFiles } from './listing.js';
import { suffixedName } from './names.js';
import type { SideName, SyncAction, SyncPlan } from './types.js';

/**
 * The two-way plan (docs/sync.md "Two-way sync"), a pure function of the saved state of the pair,
 * the two listings and which same-size pairs were found identical by content. rclone's bisync is
 * the anchor. Per file, each side is `same` (as saved), `modified` (new, or differs from what is
 * saved for that side), `deleted` (saved, now gone) or `absent` (neither saved nor there):
 *
 * | path1 \ path2 | same               | modified               | deleted          | absent      |
 * |---------------|--------------------|------------------------|------------------|-------------|
 * | same          | nothing            | copy 2→1               | delete on 1      | copy 1→2    |
 * | modified      | copy 1→2           | identical? nothing : conflict | copy 1→2 | copy 1→2    |
 * | deleted       | delete on 2        | copy 2→1               | nothing          | nothing     |
 * | absent        | copy 2→1           | copy 2→1               | nothing          | —           |
 *
 * A conflict keeps both versions: the newer (by listed time; path1 on a tie) keeps the name on
 * both sides, the other is kept on both sides as `name.conflict-path<N>-<its time, UTC>.ext`
 * (N = the side it was on). The name comes from the losing version itself, so a run that is
 * interrupted and redone reuses the same name rather than making a second copy. A rename shows as
 * a delete of the old name and a new file. `--resync` plans with no state: every file is
 * `modified`, so nothing is deleted and the union of both sides results.
 */
export type { SideFiles };

export interface BisyncPlanInput {
  /** The saved state; undefined: `--resync` (the union, no deletes). */
  state?: ReadonlyMap<StoragePath, PathRecord>;
  src: SideFiles;
  dst: SideFiles;
  /** Paths whose two sides have the same size and were found identical by content (SHA-256). */
  identical?: ReadonlySet<StoragePath>;
  /** Refuse (throw, change nothing) when the plan would delete more than this many files. */
  maxDelete?: number;
  /** How messages name the two sides. */
  display: Record<SideName, string>;
}

export interface ConflictPlan {
  path: StoragePath;
  /** The name the losing version is kept under, on both sides. */
  name: StoragePath;
  winner: SideName;
  loser: SideName;
}

export interface BisyncPlan extends SyncPlan {
  /**
   * Conflicts, each three actions in `actions`: the losing version copied to the winner's side
   * under `name` (reason `conflict`: made first, the rest waits for it), then that copy carried
   * back to the loser's side (`new`; its entry is the losing one until the runner stats the copy),
   * and the winning version copied over the loser's (`changed`).
   */
  conflicts: ConflictPlan[];
  /** Copies refused because a folder or a file is in the way at the other side. */
  failures: { action: SyncAction; error: string }[];
  resync: boolean;
}

type Status = 'same' | 'modified' | 'deleted' | 'absent';

const other = (s: SideName): SideName => (s === 'src' ? 'dst' : 'src');
export const sideLabel = (s: SideName): string => (s === 'src' ? 'path1' : 'path2');

function statusOf(saved: SideRecord | undefined, now: Entry | undefined, resync: boolean): Status {
  if (!now) return saved && !resync ? 'deleted' : 'absent';
  if (!saved || resync) return 'modified';
  return changedSince(saved, now) ? 'modified' : 'same';
}

/** The two sides hold the same content now, as far as the listings (and `identical`) tell. */
export function sameNow(a: Entry, b: Entry, identical: boolean): boolean {
  if (a.size !== b.size) return false;
  if (seconds(a.mtime) === seconds(b.mtime)) return true;
  if (a.etag && b.etag && a.etag === b.etag) return true;
  return identical;
}

/** Same-size pairs modified on both sides whose listings cannot tell whether they are identical. */
export function contentCandidates(input: Omit<BisyncPlanInput, 'identical' | 'display'>): StoragePath[] {
  const resync = input.state === undefined;
  const out: StoragePath[] = [];
  for (const [path, a] of input.src.files) {
    const b = input.dst.files.get(path);
    if (!b || sameNow(a, b, false) || a.size !== b.size) continue;
    const saved = input.state?.get(path);
    if (statusOf(saved?.src, a, resync) === 'modified' && statusOf(saved?.dst, b, resync) === 'modified')
      out.push(path);
  }
  return out;
}

/** `dir/report.txt` → `dir/report.conflict-path2-20261127T195200Z.txt`. */
export function conflictName(path: StoragePath, loser: SideName, mtime: Date): StoragePath {
  const stamp = mtime
    .toISOString()
    .replace(/\.\d+Z$/, 'Z')
    .replace(/[-:]/g, '');
  const tag = `conflict-${sideLabel(loser)}-${stamp}`;
  const name = baseName(path);
  const dot = name.lastIndexOf('.');
  const named = dot > 0 ? `${name.slice(0, dot)}.${tag}${name.slice(dot)}` : `${name}.${tag}`;
  return joinPath(parentOf(path), named);
}

export function planBisync(input: BisyncPlanInput): BisyncPlan {
  const { src, dst, state, display } = input;
  const resync = state === undefined;
  const sides: Record<SideName, SideFiles> = { src, dst };
  if (state) {
    for (const s of ['src', 'dst'] as const) {
      const had = [...state.values()].filter((r) => r[s] !== undefined).length;
      if (had > 0 && sides[s].files.size === 0)
        throw new StorageError(
          'InvalidArgument',
          `refusing to sync: ${display[s]} has no files but had ${had} at the last run (missing or emptied?); every file at ${display[other(s)]} would be deleted. Nothing was changed; if this is meant, run with --resync`,
        );
    }
  }

  const paths = new Set<StoragePath>([...src.files.keys(), ...dst.files.keys()]);
  if (state) for (const p of state.keys()) paths.add(p);
  const actions: SyncAction[] = [];
  const failures: BisyncPlan['failures'] = [];
  const conflicts: ConflictPlan[] = [];
  let unchanged = 0;

  const copy = (
    from: SideName,
    path: StoragePath,
    to: StoragePath,
    entry: Entry,
    reason: 'new' | 'changed' | 'conflict',
  ): void => {
    const action: SyncAction = { op: 'copy', from, path, to, entry, reason };
    const blocked = blocker(sides[other(from)], to);
    if (blocked) failures.push({ action, error: `${blocked}: ${shown(display[other(from)], to)}` });
    else actions.push(action);
  };

  // Conflicts first: their kept names are taken before the other files are planned.
  const reserved = new Set<StoragePath>();
  const decisions: { path: StoragePath; sa: Status; sb: Status; a?: Entry; b?: Entry }[] = [];
  for (const path of [...paths].sort()) {
    const a = src.files.get(path);
    const b = dst.files.get(path);
    const saved = state?.get(path);
    const sa = statusOf(saved?.src, a, resync);
    const sb = statusOf(saved?.dst, b, resync);
    if (a && b && sa === 'modified' && sb === 'modified' && !sameNow(a, b, !!input.identical?.has(path))) {
      const winner: SideName = seconds(b.mtime) > seconds(a.mtime) ? 'dst' : 'src';
      const loser = other(winner);
      const lost = loser === 'src' ? a : b;
      const name = freeName(conflictName(path, loser, lost.mtime), lost, sides, state, reserved);
      reserved.add(name);
      conflicts.push({ path, name, winner, loser });
    } else decisions.push({ path, sa, sb, a, b });
  }
  for (const c of conflicts) {
    const lost = sides[c.loser].files.get(c.path) as Entry;
    const won = sides[c.winner].files.get(c.path) as Entry;
    const failedBefore = failures.length;
    copy(c.loser, c.path, c.name, lost, 'conflict');
    if (failures.length > failedBefore) continue; // the losing version could not be kept: keep it where it is
    copy(c.winner, c.name, c.name, { ...lost, path: c.name, name: baseName(c.name) }, 'new');
    copy(c.winner, c.path, c.path, won, 'changed');
  }

  for (const { path, sa, sb, a, b } of decisions) {
    if (reserved.has(path)) continue; // a conflict's kept name: its actions are planned above
    if (sa === 'same' && sb === 'same') unchanged++;
    else if (sa === 'modified' && sb === 'modified')
      unchanged++; // identical now (else a conflict)
    else if (sa === 'modified' || (sa === 'same' && sb === 'absent'))
      copy('src', path, path, a as Entry, b ? 'changed' : 'new');
    else if (sb === 'modified' || (sb === 'same' && sa === 'absent'))
      copy('dst', path, path, b as Entry, a ? 'changed' : 'new');
    else if (sa === 'deleted' && sb === 'same')
      actions.push({ op: 'delete', on: 'dst', path, entry: b as Entry, reason: 'deleted' });
    else if (sb === 'deleted' && sa === 'same')
      actions.push({ op: 'delete', on: 'src', path, entry: a as Entry, reason: 'deleted' });
    // else: deleted or absent on both sides — nothing to do.
  }

  const deletes = actions.filter((x) => x.op === 'delete').length;
  if (input.maxDelete !== undefined && deletes > input.maxDelete)
    throw new StorageError(
      'InvalidArgument',
      `refusing to sync: the plan would delete ${deletes} files, more than --max-delete ${input.maxDelete}; nothing was changed`,
    );
  if (input.maxDelete === undefined && state) {
    // Without --max-delete, rclone bisync's guard: a side that lost most of its files (a disk
    // half mounted, a prefix half copied) must not pass the loss on. Over 10 deletes on one side
    // that are more than half of what it had at the last run refuse the run.
    for (const s of ['src', 'dst'] as const) {
      const on = actions.filter((x) => x.op === 'delete' && x.on === s).length;
      const had = [...state.values()].filter((r) => r[s] !== undefined).length;
      if (on > 10 && on * 2 > had)
        throw new StorageError(
          'InvalidArgument',
          `refusing to sync: the plan would delete ${on} of the ${had} files at ${display[s]} (more than half); nothing was changed. If this is meant, run again with --max-delete ${on}`,
        );
    }
  }
  return {
    actions,
    unchanged,
    conflicts,
    failures,
    resync,
    listed: { src: src.count, dst: dst.count },
  };
}

/**
 * The conflict name itself unless a file of another size holds it (on either side, or saved):
 * then `name (1)`, `(2)` … A file there with the losing version's size is taken to be the copy an
 * interrupted run made, and is written again.
 */
function freeName(
  name: StoragePath,
  lost: Entry,
  sides: Record<SideName, SideFiles>,
  state: ReadonlyMap<StoragePath, PathRecord> | undefined,
  reserved: ReadonlySet<StoragePath>,
): StoragePath {
  const free = (n: StoragePath): boolean => {
    if (reserved.has(n) || sides.src.dirs.has(n) || sides.dst.dirs.has(n)) return false;
    const sizes = [sides.src.files.get(n)?.size, sides.dst.files.get(n)?.size];
    const saved = state?.get(n);
    sizes.push(saved?.src?.size, saved?.dst?.size);
    return sizes.every((s) => s === undefined || s === lost.size);
  };
  if (free(name)) return name;
  for (let n = 1; ; n++) if (free(suffixedName(name, n))) return suffixedName(name, n);
}

function shown(display: string, rel: StoragePath): string {
  return `${display.replace(/\/$/, '')}/${rel}`;
}

/** Why a file cannot be put at `to` as the receiving side was listed, or undefined. */
function blocker(there: SideFiles, to: StoragePath): string | undefined {
  if (there.dirs.has(to)) return 'a folder is in the way';
  for (let p = parentOf(to); p !== ''; p = parentOf(p))
    if (there.files.has(p)) return `a file is in the way at ${p}`;
  return undefined;
}
