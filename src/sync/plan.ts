import { isAbsentFolder, StorageError } from '../storage/errors.js';
import { parentOf } from '../storage/paths.js';
import type { Entry, StoragePath } from '../storage/types.js';
import { forEachConcurrent } from '../util/concurrency.js';
import { hasher, judge, newer } from './compare.js';
import { pathFilter } from './filters.js';
import { emptySide, listSide, refuseOneStoreTwice, type SideFiles, shown } from './listing.js';
import { suffixedName } from './names.js';
import type { SyncAction, SyncOptions, SyncPlan, SyncSide } from './types.js';

/**
 * The one-way plan: one recursive listing of each side, compared file by file (compare.ts), and
 * nothing else — no HEAD per object (except `--checksum`, which must hash). Folders are not
 * synced as such: a file's folders come with it, and empty folders are left out.
 */
export interface OneWayPlan extends SyncPlan {
  /** Copies the plan refuses (a folder at the file's name there, or a file where a folder must go). */
  failures: { action: SyncAction; error: string }[];
  /** Files not carried: the destination is newer (`--update`). Counted as skipped. */
  kept: number;
  /**
   * The destination could not be listed (append-only with write-only credentials): every copy is
   * a create-only write and a name already there is learnt from its refusal.
   */
  blind: boolean;
}

export async function planSync(src: SyncSide, dst: SyncSide, options: SyncOptions): Promise<OneWayPlan> {
  const { signal } = options;
  if (options.appendOnly && options.mode === 'mirror')
    throw new StorageError(
      'InvalidArgument',
      '--append-only never deletes at the destination: not with --mirror',
    );
  const keep = pathFilter(options.filters);
  const [from, to] = await Promise.all([
    listSide(src, keep, signal).catch((err: unknown) => {
      if (StorageError.is(err, 'NotFound'))
        throw new StorageError('NotFound', `the source does not exist: ${src.display}`, { cause: err });
      throw err;
    }),
    listSide(dst, keep, signal).catch((err: unknown): SideFiles | 'denied' => {
      // A destination not there yet is empty; one we may not list is append-only's blind case.
      if (isAbsentFolder(err)) return emptySide();
      if (options.appendOnly && StorageError.is(err, 'PermissionDenied')) return 'denied';
      throw err;
    }),
  ]);
  const blind = to === 'denied';
  const there: SideFiles = blind ? emptySide() : to;
  if (options.mode === 'mirror' && from.files.size === 0) {
    throw new StorageError(
      'InvalidArgument',
      `refusing to mirror from ${src.display}: it has no files${options.filters?.include?.length || options.filters?.exclude?.length ? ' the filters take' : ''}, so every file at ${dst.display} would be deleted; nothing was changed`,
    );
  }

  if (options.mode !== 'copy') refuseOneStoreTwice(src, dst, from, there, options.mode === 'move');

  const actions: SyncAction[] = [];
  const failures: OneWayPlan['failures'] = [];
  const taken = new Set<StoragePath>(there.files.keys());
  const hash = hasher(signal);
  let unchanged = 0;
  let kept = 0;
  const move = options.mode === 'move';

  const hashing = options.compare === 'checksum' || move;
  await forEachConcurrent(from.files, hashing ? 16 : 1, async ([rel, entry]) => {
    const copy = (to: StoragePath, reason: 'new' | 'changed' | 'conflict'): void => {
      const action: SyncAction = { op: 'copy', from: 'src', path: rel, to, entry, reason };
      const blocked = blocker(there, to);
      if (blocked) {
        failures.push({ action, error: `${blocked}: ${shown(dst, to)}` });
        return;
      }
      taken.add(to);
      actions.push(action);
      if (move) actions.push({ op: 'delete', on: 'src', path: rel, entry, reason: 'moved' });
    };
    const other = there.files.get(rel);
    if (!other) return copy(rel, 'new');
    const same = async (d: Entry) => {
      const a = { storage: src.storage, entry };
      const b = { storage: dst.storage, entry: d };
      if ((await judge(options.compare, a, b, hash)) !== 'same') return false;
      // --move deletes the source of a file judged already there: size and time alone do not
      // prove the bytes are (same size, destination newer, other content), so hash both.
      return !move || options.compare === 'checksum' || (await judge('checksum', a, b, hash)) === 'same';
    };
    if (await same(other)) {
      unchanged++;
      if (move) actions.push({ op: 'delete', on: 'src', path: rel, entry, reason: 'moved' });
      return;
    }
    if (options.update && newer(other, entry)) {
      kept++;
      return;
    }
    if (!options.appendOnly) return copy(rel, 'changed');
    // Append-only: never replace; the same content under an earlier suffix is already there.
    for (let n = 1; ; n++) {
      const name = suffixedName(rel, n);
      const d = there.files.get(name);
      if (d && (await same(d))) {
        unchanged++;
        if (move) actions.push({ op: 'delete', on: 'src', path: rel, entry, reason: 'moved' });
        return;
      }
      if (!d && !taken.has(name)) return copy(name, 'conflict');
    }
  });

  if (options.mode === 'mirror') {
    for (const [rel, entry] of there.files)
      if (!from.files.has(rel)) actions.push({ op: 'delete', on: 'dst', path: rel, entry, reason: 'mirror' });
    const deletes = actions.filter((a) => a.op === 'delete' && a.on === 'dst').length;
    if (options.maxDelete !== undefined && deletes > options.maxDelete) {
      throw new StorageError(
        'InvalidArgument',
        `refusing to mirror: the plan would delete ${deletes} files at ${dst.display}, more than --max-delete ${options.maxDelete}; nothing was changed`,
      );
    }
  }
  // Stable, readable order for --dry-run and job records.
  actions.sort((a, b) => order(a) - order(b) || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { actions, unchanged, kept, failures, blind, listed: { src: from.count, dst: there.count } };
}

function order(a: SyncAction): number {
  return a.op === 'mkdir' ? 0 : a.op === 'copy' ? 1 : a.reason === 'moved' ? 2 : 3;
}

/** Why a file cannot be put at `to` as the destination was listed, or undefined. */
function blocker(there: SideFiles, to: StoragePath): string | undefined {
  if (there.dirs.has(to)) return 'a folder is in the way';
  for (let p = parentOf(to); p !== ''; p = parentOf(p))
    if (there.files.has(p)) return `a file is in the way at ${p}`;
  return undefined;
}
