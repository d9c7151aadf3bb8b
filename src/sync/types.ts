import type { Entry, Storage, StoragePath } from '../storage/types.js';

/**
 * The sync contract (issue 11), shared by one-way sync (plan.ts), two-way sync (bisync.ts), the
 * executor (execute.ts) and the server's sync jobs. A sync is two steps: a plan compares listings
 * (and nothing else: no HEAD per object when a listing carries what the comparison needs), then
 * the executor carries out the plan's actions over the Storage contract (copyFile, remove).
 * The plan is plain data: `--dry-run` prints it, a job run records it.
 */

/** One side of a sync: a folder of some Storage (local, S3, a mount, a user's home). */
export interface SyncSide {
  storage: Storage;
  /** The folder synced, relative to the storage root ('' for the root). */
  root: StoragePath;
  /** How messages name this side (`s3://bucket/prefix/`, `./photos/`); never a secret. */
  display: string;
}

/** How a file that exists on both sides is judged the same. */
export type CompareMode =
  /** size and mtime (the client mtime where known, else LastModified) — the default */
  | 'size-mtime'
  /** size only */
  | 'size'
  /** content: the stored `ferry-sha256`, else a computed SHA-256 — never a multipart ETag */
  | 'checksum';

export interface SyncOptions {
  /** add and update (default `copy`); `mirror` also deletes at the destination what the source lacks */
  mode: 'copy' | 'mirror' | 'move';
  compare: CompareMode;
  /** `--update`: never replace a destination file that is newer than the source's. */
  update?: boolean;
  /** `--append-only`: never overwrite or delete at the destination; a name that differs gets a suffix. */
  appendOnly?: boolean;
  /** `--max-delete N`: refuse (change nothing) when the plan would delete more than N. */
  maxDelete?: number;
  /** include/exclude globs, matched against the path relative to the side's root, in order. */
  filters?: { include?: string[]; exclude?: string[] };
  /** Files transferred at once. */
  concurrency?: number;
  dryRun?: boolean;
  signal?: AbortSignal;
}

/** Which way an action goes in a two-way sync; one-way sync only uses `toDst` / `dst`. */
export type SideName = 'src' | 'dst';

export type SyncAction =
  | {
      op: 'copy';
      /** The side the bytes come from; the other side receives them. */
      from: SideName;
      /** Path relative to the roots, on the source side. */
      path: StoragePath;
      /** Path relative to the roots on the receiving side (differs for suffixed / conflict copies). */
      to: StoragePath;
      /** The source entry as listed (passed to copyFile as `known`). */
      entry: Entry;
      /** Why: `new` (absent there), `changed` (differs), `conflict` (both changed: kept as a second name). */
      reason: 'new' | 'changed' | 'conflict';
    }
  | {
      op: 'delete';
      on: SideName;
      path: StoragePath;
      entry: Entry;
      /** `mirror` (absent at the source), `moved` (copied and verified: --move), `deleted` (two-way: deleted on the other side). */
      reason: 'mirror' | 'moved' | 'deleted';
    }
  | { op: 'mkdir'; on: SideName; path: StoragePath };

export interface SyncPlan {
  actions: SyncAction[];
  /** Files judged the same on both sides. */
  unchanged: number;
  /** What the plan cost: requests by kind as far as the backends report them (LIST, HEAD …). */
  listed: { src: number; dst: number };
}

/** One event per action outcome, for `--json`, progress and a job's run record. */
export type SyncEvent =
  | { kind: 'done'; action: SyncAction; bytes: number }
  | { kind: 'failed'; action: SyncAction; error: string }
  /**
   * Not carried out, and not a failure: `vanished` (the source file went between listing and
   * copy), `exists` (a create-only copy found a file at the name: append-only without read access
   * to compare), `held` (a mirror delete not made because something else failed).
   */
  | { kind: 'skipped'; action: SyncAction; reason: SkipReason; detail: string }
  | { kind: 'bytes'; bytes: number };

export type SkipReason = 'vanished' | 'exists' | 'held';

export interface SyncSummary {
  copied: number;
  updated: number;
  deleted: number;
  skipped: number;
  conflicts: number;
  failed: number;
  bytes: number;
  ms: number;
}

/**
 * The whole sync, plan then execute (src/sync/index.ts exports `runSync`): what `ferry sync` and a
 * server's sync job call. With `dryRun` it returns the plan and executes nothing.
 */
export type RunSync = (
  src: SyncSide,
  dst: SyncSide,
  options: SyncOptions,
  onEvent?: (event: SyncEvent) => void,
) => Promise<{ plan: SyncPlan; summary: SyncSummary }>;
