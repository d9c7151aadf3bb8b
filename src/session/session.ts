import type { Readable } from 'node:stream';
import type { EffectiveUser } from '../accounts/types.js';
import { StorageError } from '../storage/errors.js';
import type { OpenWriteOptions, WriteHandle } from '../storage/handles.js';
import { listPage } from '../storage/list-page.js';
import type { ReadHandle } from '../storage/read-handle.js';
import type { Entry, HashAlgorithm, SpaceInfo, WriteBody } from '../storage/types.js';
import { publicError, sessionError } from './errors.js';
import { partialUploads } from './partial-uploads.js';
import { folderEntry, SessionContext, type SessionDeps, virtualEntry } from './session-context.js';
import { copyIn, renameIn } from './session-moves.js';
import { SessionTransfers } from './session-transfers.js';
import type { Session } from './types.js';

/**
 * One logged-in user's session: every method resolves the client's path (resolve.ts), checks the
 * permission (permissions.ts), calls the storage of the root it falls in, keeps the quota ledger
 * for writes in the home, and emits one event. Errors reaching the client name virtual paths only
 * (errors.ts `publicError`). Where the rest lives: what every part shares (storage lookup,
 * events, entries, the quota charge) in session-context.ts; downloads, uploads and the limits on
 * open handles in session-transfers.ts; rename and copy in session-moves.ts.
 */
export class UserSession implements Session {
  readonly id: string;
  readonly user: EffectiveUser;
  readonly protocol: string;
  readonly remote: string;
  private readonly c: SessionContext;
  private readonly transfers: SessionTransfers;
  private closing: Promise<void> | undefined;

  constructor(private readonly d: SessionDeps) {
    this.id = d.id;
    this.user = d.user;
    this.protocol = d.protocol;
    this.remote = d.remote;
    this.c = new SessionContext(d);
    this.transfers = new SessionTransfers(this.c);
  }

  /** Write handles open now (transfers in flight). */
  get openWrites(): number {
    return this.transfers.openWrites;
  }

  async stat(path: string, options: { signal?: AbortSignal } = {}): Promise<Entry> {
    const c = this.c;
    const r = c.resolve(path);
    return c.quiet(r, async () => {
      c.require('list', r);
      if (c.isTreeFolder(r.vpath)) return folderEntry(r.vpath);
      const storage = await c.storage(r);
      try {
        return virtualEntry(r, await storage.stat(r.path, options));
      } catch (err) {
        // A folder holding a mount point exists in the tree even when the home has no such folder.
        if (StorageError.is(err, 'NotFound') && c.tree.hasMountBelow(r.vpath)) return folderEntry(r.vpath);
        throw err;
      }
    });
  }

  async *list(
    path: string,
    options: { startAfter?: string; limit?: number; signal?: AbortSignal } = {},
  ): AsyncIterable<Entry> {
    const c = this.c;
    const started = performance.now();
    const r = c.resolve(path);
    let count = 0;
    try {
      c.require('list', r, true);
      const pooled = await c.pooled(r);
      const storage = pooled.storage;
      const virtual = c.tree.virtualChildren(r.vpath);
      if (virtual.length === 0 && !pooled.s3?.showPartialUploads) {
        for await (const e of storage.list(r.path, options)) {
          count++;
          yield virtualEntry(r, e);
        }
      } else {
        // Mount points show as folders (hiding whatever the home has under those names), and
        // unfinished uploads as `name.partial-upload`: the folder is listed whole so that pages
        // stay in one order with them in it.
        const all: Entry[] = virtual.map((name) =>
          folderEntry(r.vpath === '/' ? `/${name}` : `${r.vpath}/${name}`),
        );
        try {
          for await (const e of storage.list(r.path, { signal: options.signal })) {
            if (!virtual.includes(e.name)) all.push(virtualEntry(r, e));
          }
        } catch (err) {
          if (!StorageError.is(err, 'NotFound') || (virtual.length === 0 && r.vpath !== r.root.path))
            throw err;
        }
        if (pooled.s3?.showPartialUploads) {
          for (const e of await partialUploads(pooled.s3.raw, r.path)) all.push(virtualEntry(r, e));
        }
        for (const e of listPage(all, { startAfter: options.startAfter, limit: options.limit })) {
          count++;
          yield e;
        }
      }
      c.emit('list', started, undefined, { path: r.vpath, bytes: count });
    } catch (err) {
      c.emit('list', started, err, { path: r.vpath });
      throw publicError(err, r.vpath);
    }
  }

  read(
    path: string,
    options: { offset?: number; length?: number; signal?: AbortSignal } = {},
  ): Promise<Readable> {
    return this.transfers.read(path, options);
  }

  openRead(path: string, options: { signal?: AbortSignal } = {}): Promise<ReadHandle> {
    return this.transfers.openRead(path, options);
  }

  write(
    path: string,
    body: WriteBody,
    options: { size?: number; mtime?: Date; signal?: AbortSignal } = {},
  ): Promise<Entry> {
    return this.transfers.write(path, body, options);
  }

  openWrite(path: string, options: OpenWriteOptions = {}): Promise<WriteHandle> {
    return this.transfers.openWrite(path, options);
  }

  async remove(path: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    const c = this.c;
    const r = c.resolve(path);
    await c.op('delete', r, undefined, async () => {
      c.refuseMountPoint(r, 'delete');
      c.require('delete', r);
      const storage = await c.storage(r);
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
    const c = this.c;
    const r = c.resolve(path);
    await c.op('mkdir', r, undefined, async () => {
      if (c.isTreeFolder(r.vpath)) throw sessionError('AlreadyExists', `already exists: ${r.vpath}`);
      c.require('mkdir', r);
      await (await c.storage(r)).mkdir(r.path, options);
      return undefined;
    });
  }

  async rmdir(path: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    const c = this.c;
    const r = c.resolve(path);
    await c.op('rmdir', r, undefined, async () => {
      c.refuseMountPoint(r, 'delete');
      c.require('delete', r);
      await (await c.storage(r)).rmdir(r.path, options);
      return undefined;
    });
  }

  rename(from: string, to: string, options: { replace?: boolean; signal?: AbortSignal } = {}): Promise<void> {
    return renameIn(this.c, from, to, options);
  }

  copy(from: string, to: string, options: { signal?: AbortSignal } = {}): Promise<Entry> {
    return copyIn(this.c, from, to, options);
  }

  async setModTime(path: string, mtime: Date, options: { signal?: AbortSignal } = {}): Promise<void> {
    const c = this.c;
    const r = c.resolve(path);
    await c.op('set-times', r, undefined, async () => {
      c.require('set-times', r);
      const storage = await c.storage(r);
      if (!storage.setModTime)
        throw sessionError('NotSupported', `modification times cannot be set here: ${r.vpath}`);
      await storage.setModTime(r.path, mtime, options);
      return undefined;
    });
  }

  async setMode(path: string): Promise<void> {
    const r = this.c.resolve(path);
    if (this.user.setstatMode === 'refuse') {
      throw sessionError('PermissionDenied', `permission denied: changing mode or owner at ${r.vpath}`);
    }
  }

  async hash(
    path: string,
    algorithm: HashAlgorithm,
    options: { signal?: AbortSignal } = {},
  ): Promise<string> {
    const c = this.c;
    const r = c.resolve(path);
    return c.quiet(r, async () => {
      c.require('download', r);
      return (await c.storage(r)).hash(r.path, algorithm, options);
    });
  }

  async about(path = '/'): Promise<SpaceInfo> {
    const c = this.c;
    const r = c.resolve(path);
    return c.quiet(r, async () => {
      const limit = this.user.quota.bytes;
      if (r.root.home && limit !== undefined) {
        const used = (await this.d.ledger.usage(this.user.username)).bytes;
        return { total: limit, used, free: Math.max(0, limit - used) };
      }
      return (await c.storage(r)).about();
    });
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      const started = performance.now();
      await this.transfers.closeAll();
      this.d.onClose(this);
      this.c.emit('logout', started, undefined, {});
    })();
    return this.closing;
  }
}
