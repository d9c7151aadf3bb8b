import { StorageError } from '../storage/errors.js';
import { bareEtag } from '../storage/etag.js';
import { copyFile, ensureDir } from '../storage/operations.js';
import { joinPath } from '../storage/paths.js';
import type { Entry, WriteOptions } from '../storage/types.js';
import { forEachConcurrent } from '../util/concurrency.js';
import type { SideName, SkipReason, SyncAction, SyncEvent, SyncSide, SyncSummary } from './types.js';

/** Files in flight by default: small files are latency-bound, so many at once (docs/sync.md). */
export const DEFAULT_CONCURRENCY = 64;

/** The SHA-256 a Ferry-written S3 object (or a file copied from one) declares in its metadata. */
const SHA256_META = 'ferry-sha256';

export interface ExecuteOptions {
  /** Files transferred at once (default DEFAULT_CONCURRENCY). */
  concurrency?: number;
  signal?: AbortSignal;
  /**
   * Every copy's target was checked against a listing of the receiving side made for this plan
   * (no folder at the name, no file above it): backends may skip their own checks (S3: a LIST
   * and a HEAD per ancestor before each PUT). A plan that did not list must leave it unset.
   */
  targetsListed?: boolean;
  /** Copies never replace a file (append-only): a name taken meanwhile is skipped as `exists`. */
  createOnly?: boolean;
  /** Actions that failed before this call (copies the plan refused): they hold `mirror` deletes too. */
  failedBefore?: number;
}

type Copy = Extract<SyncAction, { op: 'copy' }>;
type Delete = Extract<SyncAction, { op: 'delete' }>;

/**
 * Carry out a plan's actions (one-way or two-way) over the Storage contract, `concurrency` at a
 * time, emitting one event per outcome; resolves the summary. Order and safety:
 * 1. `mkdir`s;
 * 2. copies (through operations.ts `copyFile`, `known: entry`), each followed in its own slot by
 *    the `delete … reason: 'moved'` of the same source path, made only once the copy is verified
 *    (size, and the SHA-256 when both sides declare one); `moved` deletes with no copy (files the
 *    plan judged already there) run alongside;
 * 3. the other deletes (`mirror`, `deleted`); `mirror` deletes are held back (skipped: `held`)
 *    when anything failed before, so a run that could not copy never deletes at the destination.
 * A failed action is reported and the run goes on; a source file that vanished since it was
 * listed is skipped (`vanished`), not failed. An aborted signal stops the run (it rejects).
 */
export async function executeActions(
  src: SyncSide,
  dst: SyncSide,
  actions: readonly SyncAction[],
  options: ExecuteOptions = {},
  onEvent: (event: SyncEvent) => void = () => {},
): Promise<SyncSummary> {
  const started = performance.now();
  const { signal } = options;
  const limit = Math.max(1, options.concurrency ?? DEFAULT_CONCURRENCY);
  const sides: Record<SideName, SyncSide> = { src, dst };
  const summary = emptySummary();
  const fail = (action: SyncAction, err: unknown) => {
    if (signal?.aborted) throw signal.reason ?? err;
    summary.failed++;
    onEvent({ kind: 'failed', action, error: err instanceof Error ? err.message : String(err) });
  };
  const skip = (action: SyncAction, reason: SkipReason, detail: string) => {
    summary.skipped++;
    onEvent({ kind: 'skipped', action, reason, detail });
  };

  const mkdirs = actions.filter((a) => a.op === 'mkdir');
  const copies = actions.filter((a): a is Copy => a.op === 'copy');
  const deletes = actions.filter((a): a is Delete => a.op === 'delete');
  const key = (on: SideName, path: string) => `${on}\u0000${path}`;
  const copied = new Set(copies.map((c) => key(c.from, c.path)));
  // A `moved` delete follows the copy of the same file; those with no copy stand alone.
  const afterCopy = new Map<string, Delete>();
  const alone: Delete[] = [];
  const late: Delete[] = [];
  for (const d of deletes) {
    if (d.reason === 'moved' && copied.has(key(d.on, d.path))) afterCopy.set(key(d.on, d.path), d);
    else if (d.reason === 'moved') alone.push(d);
    else late.push(d);
  }

  for (const m of mkdirs) {
    signal?.throwIfAborted();
    const side = sides[m.on];
    try {
      await ensureDir(side.storage, joinPath(side.root, m.path));
      onEvent({ kind: 'done', action: m, bytes: 0 });
    } catch (err) {
      fail(m, err);
    }
  }

  // No action begins once the signal has fired: the run may no longer hold its job (a lost
  // lease: another node may run it now), and neither backend's `remove` looks at the signal.
  const remove = async (d: Delete): Promise<void> => {
    signal?.throwIfAborted();
    const side = sides[d.on];
    try {
      const path = joinPath(side.root, d.path);
      if (d.reason === 'moved') {
        const changed = differsFromListed(d.entry, await side.storage.stat(path, { signal }));
        if (changed) throw new StorageError('Conflict', `not deleted at the source: ${changed}`);
      }
      await side.storage.remove(path, { signal });
      summary.deleted++;
      onEvent({ kind: 'done', action: d, bytes: 0 });
    } catch (err) {
      if (StorageError.is(err, 'NotFound')) skip(d, 'vanished', 'already gone');
      else fail(d, err);
    }
  };

  const copy = async (c: Copy): Promise<void> => {
    signal?.throwIfAborted();
    const from = sides[c.from];
    const to = sides[c.from === 'src' ? 'dst' : 'src'];
    const fromPath = joinPath(from.root, c.path);
    const toPath = joinPath(to.root, c.to);
    let done: Entry;
    try {
      const write: WriteOptions = {};
      if (options.targetsListed) write.targetListed = true;
      if (options.createOnly) write.createOnly = true;
      done = await copyFile(from.storage, fromPath, to.storage, toPath, {
        known: knownFor(c.entry, to),
        listed: true,
        signal,
        onBytes: (bytes) => onEvent({ kind: 'bytes', bytes }),
        write,
      });
    } catch (err) {
      if (signal?.aborted) throw signal.reason ?? err;
      if (options.createOnly && StorageError.is(err, 'AlreadyExists')) {
        summary.conflicts++;
        return skip(
          c,
          'exists',
          `a file is already at ${to.display.replace(/\/$/, '')}/${c.to}; not replaced`,
        );
      }
      if (StorageError.is(err, 'NotFound') && (await vanished(from, fromPath))) {
        return skip(c, 'vanished', 'the source file is gone since it was listed');
      }
      return fail(c, err);
    }
    summary.bytes += done.size;
    if (c.reason === 'new') summary.copied++;
    else if (c.reason === 'changed') summary.updated++;
    else summary.conflicts++;
    onEvent({ kind: 'done', action: c, bytes: done.size });
    const then = afterCopy.get(key(c.from, c.path));
    if (!then) return;
    const problem = unverified(c.entry, done);
    if (problem) return fail(then, new StorageError('Conflict', `not deleted at the source: ${problem}`));
    await remove(then);
  };

  await forEachConcurrent([...copies, ...alone], limit, (a) => (a.op === 'copy' ? copy(a) : remove(a)));
  const failedBefore = summary.failed + (options.failedBefore ?? 0);
  await forEachConcurrent(late, limit, async (d) => {
    if (d.reason === 'mirror' && failedBefore > 0)
      return skip(d, 'held', `not deleted: ${failedBefore} other action(s) failed in this run`);
    await remove(d);
  });
  summary.ms = Math.round(performance.now() - started);
  return summary;
}

/**
 * The entry passed to copyFile as `known`. A listing entry makes copyFile stat the source (a HEAD
 * on S3) for the content type and metadata it lacks; a receiving side that keeps neither (a local
 * folder) needs only the listed size and time, so that HEAD is saved.
 */
function knownFor(entry: Entry, to: SyncSide): Entry {
  if (entry.detail !== 'listing' || to.storage.features.keepsMetadata) return entry;
  return { ...entry, detail: 'stat', contentType: undefined, metadata: undefined };
}

/** True when the source file is gone now (a copy failed with NotFound because of it). */
async function vanished(side: SyncSide, path: string): Promise<boolean> {
  try {
    await side.storage.stat(path);
    return false;
  } catch (err) {
    return StorageError.is(err, 'NotFound');
  }
}

/** Why a copy does not prove the file arrived whole, or undefined when it does. */
function unverified(source: Entry, copy: Entry): string | undefined {
  if (copy.size !== source.size) return `the copy has ${copy.size} bytes, the source ${source.size}`;
  const a = source.metadata?.[SHA256_META];
  const b = copy.metadata?.[SHA256_META];
  if (a && b && a !== b) return `the copy's SHA-256 ${b} is not the source's ${a}`;
  return undefined;
}

/**
 * Why a source file about to be deleted by `--move` is no longer the one listed (and copied), or
 * undefined: looked at just before the delete, so a write landing after the copy committed is not
 * deleted with the file (one stat per moved file; on S3 a HEAD). By ETag where both have one (S3:
 * a listing's time may be the mtime index's, a HEAD's the object's metadata), else size and time.
 */
function differsFromListed(listed: Entry, now: Entry): string | undefined {
  const what = 'it changed after it was listed and copied; run the move again';
  if (now.type !== 'file' || now.size !== listed.size) return what;
  if (listed.etag !== undefined && now.etag !== undefined)
    return bareEtag(listed.etag) === bareEtag(now.etag) ? undefined : what;
  return now.mtime.getTime() === listed.mtime.getTime() ? undefined : what;
}

/** A summary with nothing counted yet. */
export function emptySummary(): SyncSummary {
  return { copied: 0, updated: 0, deleted: 0, skipped: 0, conflicts: 0, failed: 0, bytes: 0, ms: 0 };
}

/** What `actions` would count if every one succeeded (`--dry-run`, one-way and two-way). */
export function plannedSummary(actions: readonly SyncAction[]): SyncSummary {
  const s = emptySummary();
  for (const a of actions) {
    if (a.op === 'copy') {
      s.bytes += a.entry.size;
      if (a.reason === 'new') s.copied++;
      else if (a.reason === 'changed') s.updated++;
      else s.conflicts++;
    } else if (a.op === 'delete') s.deleted++;
  }
  return s;
}
