import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream';
import type { EffectiveUser } from '../accounts/types.js';
import { listIncompleteUploads } from '../s3/uploads.js';
import { StorageError } from '../storage/errors.js';
import type { OpenWriteOptions, WriteHandle } from '../storage/handles.js';
import { listPage } from '../storage/list-page.js';
import { copyFile, move, moveByCopy } from '../storage/operations.js';
import type { ReadHandle } from '../storage/read-handle.js';
import type { S3Storage } from '../storage/s3/s3-storage.js';
import type { Entry, HashAlgorithm, SpaceInfo, Storage, WriteBody } from '../storage/types.js';
import { publicError, sessionError } from './errors.js';
import type { EventBus } from './events.js';
import { resultOf } from './events.js';
import { requireFolderMovable, requirePermission } from './permissions.js';
import { measure, type QuotaLedger, type Usage } from './quota-ledger.js';
import { isBelow, type Resolved, type Tree } from './resolve.js';
import { pump, type QuotaCharge, SessionReadHandle, SessionWriteHandle } from './session-handles.js';
import type { PooledStorage, StoragePool } from './storage-pool.js';
import { throttledStream, type UserBuckets } from './throttle.js';
import type { Session, SessionEvent } from './types.js';

/**
 * How much one session may hold open. Memory: every write handle is charged its storage's
 * `writeCost` (S3: partSize × part concurrency + the 32 MiB reorder window; local: 1 MiB) against
 * `handleMemory`; a handle that would exceed it is refused (Transient), except the first, so a
 * session can always write one file. The bytes themselves come from the process buffer budget
 * (src/s3/buffer-budget.ts), which bounds all sessions together.
 */
export interface SessionLimits {
  maxWriteHandles: number;
  maxReadHandles: number;
  handleMemory: number;
}

export const defaultSessionLimits: SessionLimits = {
  maxWriteHandles: 16,
  maxReadHandles: 64,
  handleMemory: 512 * 1024 * 1024,
};

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
 * One logged-in user's session: every method resolves the client's path (resolve.ts), checks the
 * permission (permissions.ts), calls the storage of the root it falls in, keeps the quota ledger
 * for writes in the home, and emits one event. Errors reaching the client name virtual paths only
 * (errors.ts `publicError`).
 */
export class UserSession implements Session {
  readonly id: string;
  readonly user: EffectiveUser;
  readonly protocol: string;
  readonly remote: string;
  private readonly writes = new Map<SessionWriteHandle, number>();
  private readonly reads = new Set<SessionReadHandle>();
  /** Downloads under way through `read` (their streams end when the session closes). */
  private readonly streams = new Set<Readable>();
  private memory = 0;
  private closing: Promise<void> | undefined;

  constructor(private readonly d: SessionDeps) {
    this.id = d.id;
    this.user = d.user;
    this.protocol = d.protocol;
    this.remote = d.remote;
  }

  /** Write handles open now (transfers in flight). */
  get openWrites(): number {
    return this.writes.size;
  }

  async stat(path: string, options: { signal?: AbortSignal } = {}): Promise<Entry> {
    const r = this.d.tree.resolve(path);
    return this.quiet(r, async () => {
      requirePermission(this.user, this.d.tree, 'list', r);
      if (r.vpath === '/' || this.d.tree.isMountPoint(r.vpath)) return this.folderEntry(r.vpath);
      const storage = await this.storage(r);
      try {
        return this.virtualEntry(r, await storage.stat(r.path, options));
      } catch (err) {
        // A folder holding a mount point exists in the tree even when the home has no such folder.
        if (StorageError.is(err, 'NotFound') && this.d.tree.hasMountBelow(r.vpath))
          return this.folderEntry(r.vpath);
        throw err;
      }
    });
  }

  async *list(
    path: string,
    options: { startAfter?: string; limit?: number; signal?: AbortSignal } = {},
  ): AsyncIterable<Entry> {
    const started = performance.now();
    const r = this.d.tree.resolve(path);
    let count = 0;
    try {
      requirePermission(this.user, this.d.tree, 'list', r, true);
      const pooled = await this.pooled(r);
      const storage = pooled.storage;
      const virtual = this.d.tree.virtualChildren(r.vpath);
      if (virtual.length === 0 && !pooled.s3?.showPartialUploads) {
        for await (const e of storage.list(r.path, options)) {
          count++;
          yield this.virtualEntry(r, e);
        }
      } else {
        // Mount points show as folders (hiding whatever the home has under those names), and
        // unfinished uploads as `name.partial-upload`: the folder is listed whole so that pages
        // stay in one order with them in it.
        const all: Entry[] = virtual.map((name) =>
          this.folderEntry(r.vpath === '/' ? `/${name}` : `${r.vpath}/${name}`),
        );
        try {
          for await (const e of storage.list(r.path, { signal: options.signal })) {
            if (!virtual.includes(e.name)) all.push(this.virtualEntry(r, e));
          }
        } catch (err) {
          if (!StorageError.is(err, 'NotFound') || (virtual.length === 0 && r.vpath !== r.root.path))
            throw err;
        }
        if (pooled.s3?.showPartialUploads) {
          for (const e of await partialUploads(pooled.s3.raw, r.path)) all.push(this.virtualEntry(r, e));
        }
        for (const e of listPage(all, { startAfter: options.startAfter, limit: options.limit })) {
          count++;
          yield e;
        }
      }
      this.emit('list', started, undefined, { path: r.vpath, bytes: count });
    } catch (err) {
      this.emit('list', started, err, { path: r.vpath });
      throw publicError(err, r.vpath);
    }
  }

  async read(
    path: string,
    options: { offset?: number; length?: number; signal?: AbortSignal } = {},
  ): Promise<Readable> {
    const started = performance.now();
    const r = this.d.tree.resolve(path);
    let stream: Readable;
    try {
      requirePermission(this.user, this.d.tree, 'download', r);
      this.checkAccepting();
      stream = await (await this.storage(r)).read(r.path, options);
    } catch (err) {
      this.emit('download', started, err, { path: r.vpath });
      throw publicError(err, r.vpath);
    }
    let bytes = 0;
    const counted = throttledStream(this.d.buckets.download, (n) => {
      bytes += n;
    });
    this.streams.add(counted);
    return pipeline(stream, counted, (err) => {
      this.streams.delete(counted);
      this.emit('download', started, err ?? undefined, { path: r.vpath, bytes });
    });
  }

  async openRead(path: string, options: { signal?: AbortSignal } = {}): Promise<ReadHandle> {
    const started = performance.now();
    const r = this.d.tree.resolve(path);
    try {
      requirePermission(this.user, this.d.tree, 'download', r);
      this.checkAccepting();
      if (this.reads.size >= this.d.limits.maxReadHandles) {
        throw sessionError(
          'Transient',
          `too many open files in this session (${this.d.limits.maxReadHandles})`,
        );
      }
      const inner = await (await this.storage(r)).openRead(r.path, options);
      const handle: SessionReadHandle = new SessionReadHandle(inner, this.virtualEntry(r, inner.entry), {
        bucket: this.d.buckets.download,
        onEnd: ({ err, bytes }) => {
          this.reads.delete(handle);
          this.emit('download', started, err, { path: r.vpath, bytes });
        },
      });
      this.reads.add(handle);
      if (this.closing) {
        await handle.close();
        throw sessionError('Transient', `the session closed: ${r.vpath}`);
      }
      return handle;
    } catch (err) {
      this.emit('download', started, err, { path: r.vpath });
      throw publicError(err, r.vpath);
    }
  }

  async write(
    path: string,
    body: WriteBody,
    options: { size?: number; mtime?: Date; signal?: AbortSignal } = {},
  ): Promise<Entry> {
    const handle = (await this.openWrite(path, { mode: 'truncate', ...options })) as SessionWriteHandle;
    const r = this.d.tree.resolve(path);
    try {
      return this.virtualEntry(r, await pump(handle, body, options.signal));
    } catch (err) {
      throw publicError(err, r.vpath);
    }
  }

  async openWrite(path: string, options: OpenWriteOptions = {}): Promise<WriteHandle> {
    const started = performance.now();
    const r = this.d.tree.resolve(path);
    try {
      this.checkAccepting();
      if (r.vpath === '/' || this.d.tree.isMountPoint(r.vpath)) {
        throw sessionError('IsADirectory', `is a folder: ${r.vpath}`);
      }
      const pooled = await this.pooled(r);
      const storage = pooled.storage;
      if (!storage.openWrite) throw sessionError('NotSupported', `writing is not supported here: ${r.vpath}`);
      const existing = await statOrUndefined(storage, r.path);
      const mode = options.mode ?? 'truncate';
      if (existing?.type === 'file' && mode !== 'exclusive')
        requirePermission(this.user, this.d.tree, 'overwrite', r);
      else requirePermission(this.user, this.d.tree, 'upload', r);
      const quota: QuotaCharge | undefined = r.root.home ? await this.charge() : undefined;
      this.admitWrite(pooled.writeCost);
      let inner: WriteHandle;
      try {
        // The idle timer is the session handle's own, and it listens to the signal too (the
        // backend's handle also gets it), so the session knows when either ends the transfer.
        const { idleTimeoutMs: _idle, ...rest } = options;
        inner = await storage.openWrite(r.path, rest);
      } catch (err) {
        this.memory -= pooled.writeCost;
        throw err;
      }
      if (quota) quota.replacedNow = async () => fileSize(await statOrUndefined(storage, r.path));
      const handle: SessionWriteHandle = new SessionWriteHandle(inner, r.vpath.slice(1), {
        bucket: this.d.buckets.upload,
        quota,
        replaced: existing?.type === 'file' ? existing.size : undefined,
        reads: {
          bucket: this.d.buckets.download,
          allowed: () => requirePermission(this.user, this.d.tree, 'download', r),
        },
        signal: options.signal,
        idleTimeoutMs: options.idleTimeoutMs,
        onEnd: ({ err, bytes, bytesRead }) => {
          this.memory -= this.writes.get(handle) ?? 0;
          this.writes.delete(handle);
          this.emit('upload', started, err, { path: r.vpath, bytes });
          // Bytes read back through an `update` handle are a download, counted as one.
          if (bytesRead > 0) this.emit('download', started, undefined, { path: r.vpath, bytes: bytesRead });
        },
      });
      this.writes.set(handle, pooled.writeCost);
      // close() may have run while the backend opened the handle: it did not see this one.
      if (this.closing) {
        await handle.abort('aborted: the session closed', 'Transient');
        throw sessionError('Transient', `the session closed: ${r.vpath}`);
      }
      return handle;
    } catch (err) {
      this.emit('upload', started, err, { path: r.vpath });
      throw publicError(err, r.vpath);
    }
  }

  async remove(path: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    const r = this.d.tree.resolve(path);
    await this.op('delete', r, undefined, async () => {
      this.refuseMountPoint(r, 'delete');
      requirePermission(this.user, this.d.tree, 'delete', r);
      const storage = await this.storage(r);
      if (!r.root.home) {
        await storage.remove(r.path, options);
        return undefined;
      }
      // Under the file's ledger lock: a racing delete or overwrite sees the file gone or replaced.
      return this.d.ledger.serialize(this.user.username, r.vpath.slice(1), async () => {
        const entry = await storage.stat(r.path, options);
        await storage.remove(r.path, options);
        if (entry.type === 'file')
          await this.d.ledger.adjust(this.user.username, { bytes: -entry.size, files: -1 });
        return entry.size;
      });
    });
  }

  async mkdir(path: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    const r = this.d.tree.resolve(path);
    await this.op('mkdir', r, undefined, async () => {
      if (r.vpath === '/' || this.d.tree.isMountPoint(r.vpath)) {
        throw sessionError('AlreadyExists', `already exists: ${r.vpath}`);
      }
      requirePermission(this.user, this.d.tree, 'mkdir', r);
      await (await this.storage(r)).mkdir(r.path, options);
      return undefined;
    });
  }

  async rmdir(path: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    const r = this.d.tree.resolve(path);
    await this.op('rmdir', r, undefined, async () => {
      this.refuseMountPoint(r, 'delete');
      requirePermission(this.user, this.d.tree, 'delete', r);
      await (await this.storage(r)).rmdir(r.path, options);
      return undefined;
    });
  }

  async rename(
    from: string,
    to: string,
    options: { replace?: boolean; signal?: AbortSignal } = {},
  ): Promise<void> {
    const rf = this.d.tree.resolve(from);
    const rt = this.d.tree.resolve(to);
    await this.op('rename', rf, rt, async () => {
      this.refuseMountPoint(rf, 'rename');
      this.refuseMountPoint(rt, 'rename');
      if (rf.vpath === rt.vpath) return undefined;
      if (isBelow(rt.vpath, rf.vpath)) {
        throw sessionError('InvalidArgument', `cannot move ${rf.vpath} into itself (${rt.vpath})`);
      }
      requirePermission(this.user, this.d.tree, 'rename', rf);
      requirePermission(this.user, this.d.tree, 'rename', rt);
      const [src, dst] = await Promise.all([this.storage(rf), this.storage(rt)]);
      const entry = await src.stat(rf.path, options);
      if (entry.type === 'dir') requireFolderMovable(this.user, rf, rt);
      const target = await statOrUndefined(dst, rt.path);
      if (target && options.replace === false)
        throw sessionError('AlreadyExists', `already exists: ${rt.vpath}`);
      if (target?.type === 'file') requirePermission(this.user, this.d.tree, 'overwrite', rt);
      const replaced: Usage =
        target?.type === 'file' ? { bytes: target.size, files: 1 } : { bytes: 0, files: 0 };
      // The storage's refusals about the target (in the way, wrong kind) name the target.
      const aboutTarget = (err: unknown) =>
        err instanceof StorageError && err.path === rt.path && rt.path !== rf.path
          ? publicError(err, rt.vpath)
          : err;
      if (rf.root === rt.root) {
        await move(src, rf.path, dst, rt.path, { signal: options.signal }).catch((err: unknown) => {
          throw aboutTarget(err);
        });
        if (rf.root.home) await this.credit(replaced);
        return entry.size;
      }
      // Across two storages: a streamed (or server-side) copy, then the source goes.
      const moved = entry.type === 'file' ? { bytes: entry.size, files: 1 } : await measure(src, rf.path);
      if (rt.root.home) {
        const q = await this.charge();
        await q.ledger.reserve(
          q.username,
          { bytes: moved.bytes - replaced.bytes, files: moved.files - replaced.files },
          q.limits,
        );
      }
      try {
        await moveByCopy(src, rf.path, dst, rt.path, { signal: options.signal });
      } catch (err) {
        if (rt.root.home)
          await this.credit({ bytes: moved.bytes - replaced.bytes, files: moved.files - replaced.files });
        throw aboutTarget(err);
      }
      if (rf.root.home) await this.credit(moved);
      return moved.bytes;
    });
  }

  async copy(from: string, to: string, options: { signal?: AbortSignal } = {}): Promise<Entry> {
    const rf = this.d.tree.resolve(from);
    const rt = this.d.tree.resolve(to);
    let result: Entry | undefined;
    await this.op('copy', rf, rt, async () => {
      if (rt.vpath === '/' || this.d.tree.isMountPoint(rt.vpath))
        throw sessionError('IsADirectory', `is a folder: ${rt.vpath}`);
      requirePermission(this.user, this.d.tree, 'download', rf);
      const [src, dst] = await Promise.all([this.storage(rf), this.storage(rt)]);
      const entry = await src.stat(rf.path, options);
      if (entry.type !== 'file') throw sessionError('IsADirectory', `is a folder: ${rf.vpath}`);
      const target = await statOrUndefined(dst, rt.path);
      requirePermission(this.user, this.d.tree, target?.type === 'file' ? 'overwrite' : 'upload', rt);
      const delta: Usage =
        target?.type === 'file'
          ? { bytes: entry.size - target.size, files: 0 }
          : { bytes: entry.size, files: 1 };
      if (rt.root.home) {
        const q = await this.charge();
        await q.ledger.reserve(q.username, delta, q.limits);
      }
      try {
        result = this.virtualEntry(
          rt,
          await copyFile(src, rf.path, dst, rt.path, { known: entry, signal: options.signal }),
        );
      } catch (err) {
        if (rt.root.home) await this.credit(delta);
        throw err;
      }
      return entry.size;
    });
    return result as Entry;
  }

  async setModTime(path: string, mtime: Date, options: { signal?: AbortSignal } = {}): Promise<void> {
    const r = this.d.tree.resolve(path);
    await this.op('set-times', r, undefined, async () => {
      requirePermission(this.user, this.d.tree, 'set-times', r);
      const storage = await this.storage(r);
      if (!storage.setModTime)
        throw sessionError('NotSupported', `modification times cannot be set here: ${r.vpath}`);
      await storage.setModTime(r.path, mtime, options);
      return undefined;
    });
  }

  async setMode(path: string): Promise<void> {
    const r = this.d.tree.resolve(path);
    if (this.user.setstatMode === 'refuse') {
      throw sessionError('PermissionDenied', `permission denied: changing mode or owner at ${r.vpath}`);
    }
  }

  async hash(
    path: string,
    algorithm: HashAlgorithm,
    options: { signal?: AbortSignal } = {},
  ): Promise<string> {
    const r = this.d.tree.resolve(path);
    return this.quiet(r, async () => {
      requirePermission(this.user, this.d.tree, 'download', r);
      return (await this.storage(r)).hash(r.path, algorithm, options);
    });
  }

  async about(path = '/'): Promise<SpaceInfo> {
    const r = this.d.tree.resolve(path);
    return this.quiet(r, async () => {
      const limit = this.user.quota.bytes;
      if (r.root.home && limit !== undefined) {
        const used = (await this.d.ledger.usage(this.user.username)).bytes;
        return { total: limit, used, free: Math.max(0, limit - used) };
      }
      return (await this.storage(r)).about();
    });
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      const started = performance.now();
      await Promise.all(
        [...this.writes.keys()].map((h) => h.abort('aborted: the session closed', 'Transient')),
      );
      await Promise.all([...this.reads].map((h) => h.close().catch(() => {})));
      for (const s of this.streams) s.destroy(sessionError('Transient', 'the session closed'));
      this.d.onClose(this);
      this.emit('logout', started, undefined, {});
    })();
    return this.closing;
  }

  // --- helpers -------------------------------------------------------------------------------

  private pooled(r: Resolved): Promise<PooledStorage> {
    return this.d.pool.entry(r.root.target);
  }

  private async storage(r: Resolved): Promise<Storage> {
    return (await this.pooled(r)).storage;
  }

  /** The quota charge of a home write: the ledger, the limits, what is left now. */
  private async charge() {
    const limits = this.user.quota;
    let headroom = Number.POSITIVE_INFINITY;
    if (limits.bytes !== undefined)
      headroom = limits.bytes - (await this.d.ledger.usage(this.user.username)).bytes;
    return { ledger: this.d.ledger, username: this.user.username, limits, headroom };
  }

  private credit(usage: Usage): Promise<void> {
    return this.d.ledger.adjust(this.user.username, { bytes: -usage.bytes, files: -usage.files });
  }

  private admitWrite(cost: number): void {
    const { maxWriteHandles, handleMemory } = this.d.limits;
    if (this.writes.size >= maxWriteHandles || (this.writes.size > 0 && this.memory + cost > handleMemory)) {
      throw sessionError(
        'Transient',
        `too many files open for writing in this session (at most ${maxWriteHandles}, ${handleMemory} bytes of buffers)`,
      );
    }
    this.memory += cost;
  }

  private checkAccepting(): void {
    if (this.closing) throw sessionError('Transient', 'the session closed');
    if (!this.d.accepting()) throw sessionError('Transient', 'the server is shutting down');
  }

  private refuseMountPoint(r: Resolved, what: string): void {
    if (r.vpath === '/' || this.d.tree.isMountPoint(r.vpath) || this.d.tree.hasMountBelow(r.vpath)) {
      throw sessionError(
        'PermissionDenied',
        `permission denied: ${what} ${r.vpath} (a mount point is there)`,
      );
    }
  }

  private folderEntry(vpath: string): Entry {
    const path = vpath.slice(1);
    return { path, name: path.slice(path.lastIndexOf('/') + 1), type: 'dir', size: 0, mtime: EPOCH };
  }

  /** A storage entry with its path as the client sees it (virtual, without the leading `/`). */
  private virtualEntry(r: Resolved, e: Entry): Entry {
    const base = r.root.path === '/' ? '' : r.root.path.slice(1);
    return { ...e, path: [base, e.path].filter((p) => p !== '').join('/') };
  }

  /** Run an operation that emits an event (bytes: what `fn` resolves to). */
  private async op(
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
  private async quiet<T>(r: Resolved, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw publicError(err, r.vpath);
    }
  }

  private emit(
    kind: SessionEvent['kind'],
    started: number,
    err: unknown,
    fields: Pick<SessionEvent, 'path' | 'targetPath' | 'bytes'>,
  ): void {
    this.d.bus.emit({
      kind,
      username: this.user.username,
      protocol: this.protocol,
      remote: this.remote,
      sessionId: this.id,
      ...fields,
      durationMs: Math.round(performance.now() - started),
      result: resultOf(err),
      at: new Date(),
    });
  }
}

/** Suffix of the listing entries that stand for unfinished multipart uploads. */
export const PARTIAL_UPLOAD_SUFFIX = '.partial-upload';

/**
 * The unfinished multipart uploads directly in the folder `path` of an S3 storage, as entries
 * `name.partial-upload` (size 0, mtime: when the upload began). They are only shown: there is
 * no object behind them to read, and the multipart uploads are left alone.
 */
async function partialUploads(raw: S3Storage, path: string): Promise<Entry[]> {
  const prefix = raw.keys.dir(path);
  const out: Entry[] = [];
  for await (const u of listIncompleteUploads(raw.client, raw.bucket, prefix)) {
    const rest = u.key.slice(prefix.length);
    if (rest === '' || rest.includes('/')) continue;
    const name = `${raw.keys.path(u.key).split('/').pop()}${PARTIAL_UPLOAD_SUFFIX}`;
    out.push({
      path: path === '' ? name : `${path}/${name}`,
      name,
      type: 'file',
      size: 0,
      mtime: u.initiated,
    });
  }
  return out;
}

function fileSize(entry: Entry | undefined): number | undefined {
  return entry?.type === 'file' ? entry.size : undefined;
}

async function statOrUndefined(storage: Storage, path: string): Promise<Entry | undefined> {
  try {
    return await storage.stat(path);
  } catch (err) {
    if (StorageError.is(err, 'NotFound')) return undefined;
    throw err;
  }
}
