import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream';
import type { OpenWriteOptions, WriteHandle } from '../storage/handles.js';
import type { ReadHandle } from '../storage/read-handle.js';
import type { Entry, WriteBody } from '../storage/types.js';
import { publicError, sessionError } from './errors.js';
import { pump } from './pump.js';
import { fileSize, type SessionContext, statOrUndefined, virtualEntry } from './session-context.js';
import { type QuotaCharge, SessionReadHandle, SessionWriteHandle } from './session-handles.js';
import { throttledStream } from './throttle.js';

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

/**
 * The transfers of one session: downloads (streams through `read`, read handles) and uploads
 * (write handles, `write`), each throttled and counted into one event, held to the session's
 * limits, and all ended by `closeAll` when the session closes.
 */
export class SessionTransfers {
  private readonly writes = new Map<SessionWriteHandle, number>();
  private readonly reads = new Set<SessionReadHandle>();
  /** Downloads under way through `read` (their streams end when the session closes). */
  private readonly streams = new Set<Readable>();
  private memory = 0;
  private closing = false;

  constructor(private readonly c: SessionContext) {}

  /** Write handles open now (transfers in flight). */
  get openWrites(): number {
    return this.writes.size;
  }

  async read(
    path: string,
    options: { offset?: number; length?: number; signal?: AbortSignal } = {},
  ): Promise<Readable> {
    const c = this.c;
    const started = performance.now();
    const r = c.resolve(path);
    let stream: Readable;
    try {
      c.require('download', r);
      this.checkAccepting();
      stream = await (await c.storage(r)).read(r.path, options);
    } catch (err) {
      c.emit('download', started, err, { path: r.vpath });
      throw publicError(err, r.vpath);
    }
    let bytes = 0;
    const counted = throttledStream(c.d.buckets.download, (n) => {
      bytes += n;
    });
    this.streams.add(counted);
    return pipeline(stream, counted, (err) => {
      this.streams.delete(counted);
      c.emit('download', started, err ?? undefined, { path: r.vpath, bytes });
    });
  }

  async openRead(path: string, options: { signal?: AbortSignal } = {}): Promise<ReadHandle> {
    const c = this.c;
    const started = performance.now();
    const r = c.resolve(path);
    try {
      c.require('download', r);
      this.checkAccepting();
      const { maxReadHandles } = c.d.limits;
      if (this.reads.size >= maxReadHandles) {
        throw sessionError('Transient', `too many open files in this session (${maxReadHandles})`);
      }
      const inner = await (await c.storage(r)).openRead(r.path, options);
      const handle: SessionReadHandle = new SessionReadHandle(inner, virtualEntry(r, inner.entry), {
        bucket: c.d.buckets.download,
        onEnd: ({ err, bytes }) => {
          this.reads.delete(handle);
          c.emit('download', started, err, { path: r.vpath, bytes });
        },
      });
      this.reads.add(handle);
      if (this.closing) {
        await handle.close();
        throw sessionError('Transient', `the session closed: ${r.vpath}`);
      }
      return handle;
    } catch (err) {
      c.emit('download', started, err, { path: r.vpath });
      throw publicError(err, r.vpath);
    }
  }

  async write(
    path: string,
    body: WriteBody,
    options: { size?: number; mtime?: Date; signal?: AbortSignal } = {},
  ): Promise<Entry> {
    const handle = (await this.openWrite(path, { mode: 'truncate', ...options })) as SessionWriteHandle;
    const r = this.c.resolve(path);
    try {
      return virtualEntry(r, await pump(handle, body, options.signal));
    } catch (err) {
      throw publicError(err, r.vpath);
    }
  }

  async openWrite(path: string, options: OpenWriteOptions = {}): Promise<WriteHandle> {
    const c = this.c;
    const started = performance.now();
    const r = c.resolve(path);
    try {
      this.checkAccepting();
      if (c.isTreeFolder(r.vpath)) throw sessionError('IsADirectory', `is a folder: ${r.vpath}`);
      const pooled = await c.pooled(r);
      const storage = pooled.storage;
      if (!storage.openWrite) throw sessionError('NotSupported', `writing is not supported here: ${r.vpath}`);
      const existing = await statOrUndefined(storage, r.path);
      const mode = options.mode ?? 'truncate';
      if (existing?.type === 'file' && mode !== 'exclusive') c.require('overwrite', r);
      else c.require('upload', r);
      const quota: QuotaCharge | undefined = r.root.home ? await c.charge() : undefined;
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
        bucket: c.d.buckets.upload,
        quota,
        replaced: existing?.type === 'file' ? existing.size : undefined,
        reads: {
          bucket: c.d.buckets.download,
          allowed: () => c.require('download', r),
        },
        signal: options.signal,
        idleTimeoutMs: options.idleTimeoutMs,
        onEnd: ({ err, bytes, bytesRead }) => {
          this.memory -= this.writes.get(handle) ?? 0;
          this.writes.delete(handle);
          c.emit('upload', started, err, { path: r.vpath, bytes });
          // Bytes read back through an `update` handle are a download, counted as one.
          if (bytesRead > 0) c.emit('download', started, undefined, { path: r.vpath, bytes: bytesRead });
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
      c.emit('upload', started, err, { path: r.vpath });
      throw publicError(err, r.vpath);
    }
  }

  /**
   * The session closes: write handles are aborted (nothing left behind), read handles closed,
   * downloads under way ended; transfers opened from now on are refused.
   */
  async closeAll(): Promise<void> {
    this.closing = true;
    await Promise.all(
      [...this.writes.keys()].map((h) => h.abort('aborted: the session closed', 'Transient')),
    );
    await Promise.all([...this.reads].map((h) => h.close().catch(() => {})));
    for (const s of this.streams) s.destroy(sessionError('Transient', 'the session closed'));
  }

  private admitWrite(cost: number): void {
    const { maxWriteHandles, handleMemory } = this.c.d.limits;
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
    if (!this.c.d.accepting()) throw sessionError('Transient', 'the server is shutting down');
  }
}
