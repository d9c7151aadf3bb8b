import type { PermissionName } from '../accounts/model.js';
import type { EffectiveUser } from '../accounts/types.js';
import { StorageError } from '../storage/errors.js';
import type { Entry, Storage } from '../storage/types.js';
import { publicError, sessionError } from './errors.js';
import type { EventBus } from './events.js';
import { resultOf } from './events.js';
import { requirePermission } from './permissions.js';
import type { QuotaLedger, Usage } from './quota-ledger.js';
import type { Resolved, Tree } from './resolve.js';
import type { UserSession } from './session.js';
import type { QuotaCharge } from './session-handles.js';
import type { SessionLimits } from './session-transfers.js';
import type { PooledStorage, StoragePool } from './storage-pool.js';
import type { UserBuckets } from './throttle.js';
import type { SessionEvent } from './types.js';

export interface SessionDeps {
  id: string;
  user: EffectiveUser;
  protocol: string;
  remote: string;
  tree: Tree;
  pool: StoragePool;
  ledger: QuotaLedger;
  buckets: UserBuckets;
  bus: EventBus;
  limits: SessionLimits;
  /** False once the server is shutting down: new transfers are refused. */
  accepting: () => boolean;
  onClose: (session: UserSession) => void;
}

const EPOCH = new Date(0);

/**
 * What every part of a session shares (session.ts, session-transfers.ts, session-moves.ts): the
 * path → storage lookup, the permission check, the quota ledger of the user, the entries as the
 * client sees them, and the one event per operation with its error made public.
 */
export class SessionContext {
  readonly user: EffectiveUser;

  constructor(readonly d: SessionDeps) {
    this.user = d.user;
  }

  get tree(): Tree {
    return this.d.tree;
  }

  resolve(path: string): Resolved {
    return this.d.tree.resolve(path);
  }

  /** Throws PermissionDenied unless the user may do `what` at `r` (permissions.ts). */
  require(what: PermissionName, r: Resolved, listing?: boolean): void {
    requirePermission(this.user, this.d.tree, what, r, listing);
  }

  pooled(r: Resolved): Promise<PooledStorage> {
    return this.d.pool.entry(r.root.target);
  }

  async storage(r: Resolved): Promise<Storage> {
    return (await this.pooled(r)).storage;
  }

  /** The quota charge of a home write: the ledger, the limits, what is left now. */
  async charge(): Promise<QuotaCharge> {
    const limits = this.user.quota;
    let headroom = Number.POSITIVE_INFINITY;
    if (limits.bytes !== undefined)
      headroom = limits.bytes - (await this.d.ledger.usage(this.user.username)).bytes;
    return { ledger: this.d.ledger, username: this.user.username, limits, headroom };
  }

  credit(usage: Usage): Promise<void> {
    return this.d.ledger.adjust(this.user.username, { bytes: -usage.bytes, files: -usage.files });
  }

  refuseMountPoint(r: Resolved, what: string): void {
    if (r.vpath === '/' || this.d.tree.isMountPoint(r.vpath) || this.d.tree.hasMountBelow(r.vpath)) {
      throw sessionError(
        'PermissionDenied',
        `permission denied: ${what} ${r.vpath} (a mount point is there)`,
      );
    }
  }

  /** The root or a mount point: a folder of the tree whatever its storage holds. */
  isTreeFolder(vpath: string): boolean {
    return vpath === '/' || this.d.tree.isMountPoint(vpath);
  }

  /** Run an operation that emits an event (bytes: what `fn` resolves to). */
  async op(
    kind: SessionEvent['kind'],
    r: Resolved,
    target: Resolved | undefined,
    fn: () => Promise<number | undefined>,
  ): Promise<void> {
    const started = performance.now();
    try {
      const bytes = await fn();
      this.emit(kind, started, undefined, { path: r.vpath, targetPath: target?.vpath, bytes });
    } catch (err) {
      this.emit(kind, started, err, { path: r.vpath, targetPath: target?.vpath });
      throw publicError(err, r.vpath);
    }
  }

  /** An operation without an event kind of its own (stat, hash, about): errors made public. */
  async quiet<T>(r: Resolved, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw publicError(err, r.vpath);
    }
  }

  emit(
    kind: SessionEvent['kind'],
    started: number,
    err: unknown,
    fields: Pick<SessionEvent, 'path' | 'targetPath' | 'bytes'>,
  ): void {
    this.d.bus.emit({
      kind,
      username: this.user.username,
      protocol: this.d.protocol,
      remote: this.d.remote,
      sessionId: this.d.id,
      ...fields,
      durationMs: Math.round(performance.now() - started),
      result: resultOf(err),
      at: new Date(),
    });
  }
}

/** A folder of the tree (the root, a mount point or its ancestor) as an entry. */
export function folderEntry(vpath: string): Entry {
  const path = vpath.slice(1);
  return { path, name: path.slice(path.lastIndexOf('/') + 1), type: 'dir', size: 0, mtime: EPOCH };
}

/** A storage entry with its path as the client sees it (virtual, without the leading `/`). */
export function virtualEntry(r: Resolved, e: Entry): Entry {
  const base = r.root.path === '/' ? '' : r.root.path.slice(1);
  return { ...e, path: [base, e.path].filter((p) => p !== '').join('/') };
}

export function fileSize(entry: Entry | undefined): number | undefined {
  return entry?.type === 'file' ? entry.size : undefined;
}

export async function statOrUndefined(storage: Storage, path: string): Promise<Entry | undefined> {
  try {
    return await storage.stat(path);
  } catch (err) {
    if (StorageError.is(err, 'NotFound')) return undefined;
    throw err;
  }
}
