import { isAbsentFolder, StorageError } from '../storage/errors.js';
import { joinPath } from '../storage/paths.js';
import type { Entry, StoragePath } from '../storage/types.js';
import { forEachConcurrent } from '../util/concurrency.js';
import {
  type BisyncPlan,
  type ConflictPlan,
  contentCandidates,
  planBisync,
  type SideFiles,
} from './bisync-plan.js';
import { type BisyncState, type BisyncStateStore, type PathRecord, recordOf } from './bisync-state.js';
import { hasher } from './compare.js';
import { DEFAULT_CONCURRENCY, executeActions, plannedSummary } from './execute.js';
import { emptySide, listSide, refuseOneStoreTwice } from './listing.js';
import type { SideName, SyncAction, SyncEvent, SyncSide, SyncSummary } from './types.js';

export interface BisyncOptions {
  /** Where the pair's state is loaded from and saved to (bisync-state.ts). */
  store: BisyncStateStore;
  /** Ignore any saved state: make both sides the union of the two, deleting nothing. */
  resync?: boolean;
  dryRun?: boolean;
  /** Refuse (change nothing) when the plan would delete more than this many files. */
  maxDelete?: number;
  concurrency?: number;
  signal?: AbortSignal;
  /** Called with the plan before anything is carried out (to print it, to size a progress bar). */
  onPlan?: (plan: BisyncPlan) => void;
}

export interface BisyncResult {
  plan: BisyncPlan;
  summary: SyncSummary;
  /** The state was saved: the run succeeded (never with --dry-run or after a failure). */
  saved: boolean;
}

type Copy = Extract<SyncAction, { op: 'copy' }>;

/**
 * Two-way sync of `src` (path1) and `dst` (path2): list both, plan against the saved state
 * (bisync-plan.ts), carry the plan out (execute.ts), and only when every action succeeded save
 * the new state. A failed run keeps the old state: the next run plans against it again, and
 * finds what this run already did as "modified on both sides and identical" (nothing to do) or
 * "deleted on both sides", so nothing is redone twice or lost. Conflicts go in two steps: the
 * losing version is first copied to the winner's side under its conflict name; only where that
 * succeeded is it carried back and overwritten by the winner.
 */
export async function runBisync(
  src: SyncSide,
  dst: SyncSide,
  options: BisyncOptions,
  onEvent: (event: SyncEvent) => void = () => {},
): Promise<BisyncResult> {
  const started = performance.now();
  const { signal, store } = options;
  let state: BisyncState | undefined;
  if (!options.resync) {
    state = await store.load();
    if (!state)
      throw new StorageError(
        'InvalidArgument',
        `no saved state for the two-way sync of ${src.display} and ${dst.display}: the first run needs --resync (it copies each side's files to the other, deletes nothing, and keeps both versions of a file that differs)`,
      );
  }
  const unlock = options.dryRun ? undefined : await store.lock();
  try {
    const [a, b] = await Promise.all([listFiles(src, signal), listFiles(dst, signal)]);
    // One folder and a folder inside it, spelt two ways: every run would copy the tree into
    // itself once more and carry deletes across. (One folder spelt twice is harmless here: each
    // change shows on both sides at once, identical, and nothing is done.)
    refuseOneStoreTwice(src, dst, a, b, false);
    const base = { state: state?.files, src: a, dst: b };
    const identical = await identicalByContent(src, dst, contentCandidates(base), signal);
    const plan = planBisync({
      ...base,
      identical,
      maxDelete: options.maxDelete,
      display: { src: src.display, dst: dst.display },
    });
    options.onPlan?.(plan);
    for (const f of plan.failures) onEvent({ kind: 'failed', action: f.action, error: f.error });
    if (options.dryRun) {
      const summary = wouldDo(plan);
      summary.ms = Math.round(performance.now() - started);
      return { plan, summary, saved: false };
    }

    // What this run wrote or deleted, per side: the new state takes those from a fresh listing.
    const touched: Record<SideName, Set<StoragePath>> = { src: new Set(), dst: new Set() };
    const failed = new Set<SyncAction>();
    const track = (e: SyncEvent) => {
      if (e.kind === 'done' && e.action.op === 'copy')
        touched[e.action.from === 'src' ? 'dst' : 'src'].add(e.action.to);
      else if (e.kind === 'done' && e.action.op === 'delete') touched[e.action.on].add(e.action.path);
      else if (e.kind === 'failed') failed.add(e.action);
      onEvent(e);
    };
    const exec = {
      concurrency: options.concurrency ?? DEFAULT_CONCURRENCY,
      signal,
      targetsListed: true,
    };
    const keep = plan.actions.filter((x): x is Copy => x.op === 'copy' && x.reason === 'conflict');
    const first = await executeActions(src, dst, keep, exec, track);
    const next = await conflictFollowUps(src, dst, plan, keep, failed, signal);
    for (const h of next.held) {
      first.skipped++;
      onEvent({
        kind: 'skipped',
        action: h,
        reason: 'held',
        detail: 'the losing version of this conflict could not be kept first',
      });
    }
    for (const f of next.failures) {
      first.failed++;
      onEvent({ kind: 'failed', action: f.action, error: f.error });
    }
    const second = await executeActions(src, dst, next.actions, exec, track);
    const summary = add(first, second);
    summary.failed += plan.failures.length;
    summary.skipped += plan.unchanged;

    let saved = false;
    if (summary.failed === 0) {
      // A side this run did not change is listed again only if it has to be: its state is the
      // listing the plan was made from.
      const [a2, b2] = await Promise.all([
        touched.src.size > 0 ? listFiles(src, signal) : a,
        touched.dst.size > 0 ? listFiles(dst, signal) : b,
      ]);
      await store.save({
        version: 1,
        path1: src.display,
        path2: dst.display,
        savedAt: new Date().toISOString(),
        files: nextState({ src: a, dst: b }, { src: a2, dst: b2 }, touched),
      });
      saved = true;
    }
    summary.ms = Math.round(performance.now() - started);
    return { plan, summary, saved };
  } finally {
    await unlock?.();
  }
}

/**
 * The actions after the conflicts' first step: all but those of a conflict whose losing version
 * could not be kept, with each carried-back copy's entry taken from a stat of the kept copy.
 */
async function conflictFollowUps(
  src: SyncSide,
  dst: SyncSide,
  plan: BisyncPlan,
  keep: readonly Copy[],
  failed: ReadonlySet<SyncAction>,
  signal?: AbortSignal,
): Promise<{ actions: SyncAction[]; held: SyncAction[]; failures: { action: SyncAction; error: string }[] }> {
  const sides: Record<SideName, SyncSide> = { src, dst };
  const first = new Set<SyncAction>(keep);
  const keptFor = new Map(keep.map((k) => [k.path, k]));
  // The winner's two copies of each conflict, by their source: the kept name and the name itself.
  const byWinnerCopy = new Map<string, ConflictPlan>();
  for (const k of plan.conflicts) {
    byWinnerCopy.set(`${k.winner}\u0000${k.path}`, k);
    byWinnerCopy.set(`${k.winner}\u0000${k.name}`, k);
  }
  const out: SyncAction[] = [];
  const held: SyncAction[] = [];
  const failures: { action: SyncAction; error: string }[] = [];
  for (const x of plan.actions) {
    if (first.has(x)) continue;
    const c = x.op === 'copy' ? byWinnerCopy.get(`${x.from}\u0000${x.path}`) : undefined;
    if (!c) {
      out.push(x);
      continue;
    }
    const kept = keptFor.get(c.path);
    if (!kept || failed.has(kept)) {
      held.push(x);
      continue;
    }
    if (x.op === 'copy' && x.path === c.name) {
      const side = sides[c.winner];
      try {
        const entry = await side.storage.stat(joinPath(side.root, c.name), { signal });
        out.push({ ...x, entry });
      } catch (err) {
        if (signal?.aborted) throw err;
        failures.push({ action: x, error: err instanceof Error ? err.message : String(err) });
      }
    } else out.push(x);
  }
  return { actions: out, held, failures };
}

/**
 * The state after a successful run, per side: for a file this run wrote or deleted there, the
 * fresh listing; for every other file, the listing the plan was made from — so a change made by
 * someone else while the run went on is still seen as a change next time.
 */
function nextState(
  before: Record<SideName, SideFiles>,
  after: Record<SideName, SideFiles>,
  touched: Record<SideName, ReadonlySet<StoragePath>>,
): Map<StoragePath, PathRecord> {
  const files = new Map<StoragePath, PathRecord>();
  for (const s of ['src', 'dst'] as const) {
    const put = (path: StoragePath, e: Entry) => {
      const r = files.get(path) ?? {};
      r[s] = recordOf(e);
      files.set(path, r);
    };
    for (const [path, e] of before[s].files) if (!touched[s].has(path)) put(path, e);
    for (const path of touched[s]) {
      const e = after[s].files.get(path);
      if (e) put(path, e);
    }
  }
  return files;
}

/** The files of a side by path relative to its root; a side not there yet is empty. */
export async function listFiles(side: SyncSide, signal?: AbortSignal): Promise<SideFiles> {
  return listSide(side, undefined, signal).catch((err: unknown) => {
    if (!isAbsentFolder(err)) throw err;
    return emptySide();
  });
}

/** Of the candidate paths, those whose two sides have the same SHA-256. */
async function identicalByContent(
  src: SyncSide,
  dst: SyncSide,
  paths: readonly StoragePath[],
  signal?: AbortSignal,
): Promise<Set<StoragePath>> {
  const same = new Set<StoragePath>();
  const hash = hasher(signal);
  await forEachConcurrent(paths, 16, async (p) => {
    const [x, y] = await Promise.all([
      hash(src.storage, joinPath(src.root, p)),
      hash(dst.storage, joinPath(dst.root, p)),
    ]);
    if (x === y) same.add(p);
  });
  return same;
}

function add(x: SyncSummary, y: SyncSummary): SyncSummary {
  return {
    copied: x.copied + y.copied,
    updated: x.updated + y.updated,
    deleted: x.deleted + y.deleted,
    skipped: x.skipped + y.skipped,
    conflicts: x.conflicts + y.conflicts,
    failed: x.failed + y.failed,
    bytes: x.bytes + y.bytes,
    ms: 0,
  };
}

/** The summary the plan would give if every action succeeded (`--dry-run`). */
function wouldDo(plan: BisyncPlan): SyncSummary {
  return { ...plannedSummary(plan.actions), skipped: plan.unchanged, failed: plan.failures.length };
}
