import type { Readable } from 'node:stream';
import type { StorageErrorCode } from '../storage/errors.js';
import type { WriteAttributes, WriteHandle } from '../storage/handles.js';
import { type LentBytes, lendBytes, type ReadHandle, streamFromHandle } from '../storage/read-handle.js';
import type { Entry } from '../storage/types.js';
import { publicError, sessionError } from './errors.js';
import type { QuotaLedger, QuotaLimits } from './quota-ledger.js';
import type { TokenBucket } from './throttle.js';

/** How a write is charged to the quota ledger (home writes only). */
export interface QuotaCharge {
  ledger: QuotaLedger;
  username: string;
  limits: QuotaLimits;
  /** Bytes the user may still add, as the ledger said at open (Infinity without a byte limit). */
  headroom: number;
  /**
   * The size of the file the write replaces as it is now (undefined: none), asked again at close
   * under `ledger.serialize` (another write or a delete may have changed it since the open).
   */
  replacedNow?: () => Promise<number | undefined>;
}

const MiB = 1024 * 1024;
/** The largest gap one write (or a truncate that grows the file) may open past the file's end. */
export const MAX_WRITE_GAP = 64 * MiB;

export interface WriteHandleHooks {
  bucket?: TokenBucket;
  quota?: QuotaCharge;
  /** Size of the file the write replaces; undefined for a new file. */
  replaced?: number;
  /**
   * `update` mode: what `read` needs: the user's download bucket, and a check that throws when
   * the user may not download (PermissionDenied; asked at the first read, not at open, so an
   * upload-only user can still resume an upload).
   */
  reads?: { bucket?: TokenBucket; allowed: () => void };
  /** Aborting it aborts the handle (the client went away). */
  signal?: AbortSignal;
  /** Abort the handle when no call came for this long. */
  idleTimeoutMs?: number;
  /** Called once, when the handle closed (entry) or was aborted / failed (err). */
  onEnd(outcome: { err?: unknown; bytes: number; bytesRead: number; entry?: Entry }): void;
}

/**
 * A write handle as a session hands it out: the backend's handle (handles.ts) plus throttling,
 * the quota and one event. Bytes pass the user's upload bucket before the backend sees them.
 * Quota: the file's growth (highest byte written − replaced size) is checked against the
 * headroom as bytes arrive, so a huge upload stops early; at close the growth is reserved in the
 * ledger with one conditional UPDATE *before* the backend's close, and given back if that close
 * fails. A refused reservation aborts the backend's handle: nothing becomes visible and no
 * multipart upload is left. Calls run in call order, as the backend's do.
 */
export class SessionWriteHandle implements WriteHandle {
  private queue: Promise<unknown> = Promise.resolve();
  private end = 0;
  private bytes = 0;
  private bytesRead = 0;
  private state: 'open' | 'done' = 'open';
  /** Why the handle was aborted from outside (the session closed): later calls say so. */
  private why: string | undefined;
  private whyCode: StorageErrorCode = 'InvalidArgument';
  private readonly ended = new AbortController();
  /** Aborted when the handle ends without closing (so a pump waiting on its body stops). */
  readonly aborted: AbortSignal = this.ended.signal;

  private idle: NodeJS.Timeout | undefined;
  private readonly onSignal = () => void this.abort('aborted: the client went away');

  constructor(
    private readonly inner: WriteHandle,
    readonly path: string,
    private readonly hooks: WriteHandleHooks,
  ) {
    if (inner.read) this.read = (offset, length) => this.readBack(inner.read!.bind(inner), offset, length);
    if (inner.truncate) this.truncate = (size) => this.truncateInOrder(size);
    if (hooks.signal?.aborted) queueMicrotask(this.onSignal);
    else hooks.signal?.addEventListener('abort', this.onSignal, { once: true });
    this.touch();
  }

  /** Restart the idle timer (between calls only: a call waiting on a slow store is not idle). */
  private touch(): void {
    clearTimeout(this.idle);
    const ms = this.hooks.idleTimeoutMs;
    if (ms === undefined || this.state !== 'open') return;
    this.idle = setTimeout(() => void this.abort(`aborted after ${ms} ms without a call`), ms);
    this.idle.unref?.();
  }

  get startOffset(): number {
    return this.inner.startOffset;
  }

  get open(): boolean {
    return this.state === 'open';
  }

  write(offset: number, bytes: Uint8Array): Promise<void> {
    return this.run(async () => {
      if (this.state !== 'open') throw this.gone();
      // A write past the end leaves a gap the backend stores as zeros: one byte at offset 2^40
      // made an S3 home upload a terabyte of zeros. At most MAX_WRITE_GAP per write, and the
      // gap is paid for like the bytes themselves (bandwidth).
      const gap = Math.max(0, offset - this.knownEnd());
      if (gap > MAX_WRITE_GAP) await this.refuseGap(offset, 'write at offset');
      await this.hooks.bucket?.take(bytes.length + gap);
      const end = Math.max(this.end, offset + bytes.length);
      await this.checkQuota(end);
      this.end = end;
      this.bytes += bytes.length;
      try {
        await this.inner.write(offset, bytes);
      } catch (err) {
        await this.fail(err);
        // Aborted from outside while the write was in flight: say why (shutdown is Transient),
        // not what the backend's aborted handle answered.
        throw this.why ? this.gone() : err;
      }
    });
  }

  /**
   * `update` mode only (WriteHandle.truncate): the file's size becomes `size`; the quota counts
   * the final size (as for a write: growth past what is left is refused).
   */
  truncate?: (size: number) => Promise<void>;

  private truncateInOrder(size: number): Promise<void> {
    return this.run(async () => {
      if (this.state !== 'open') throw this.gone();
      const gap = Math.max(0, size - this.knownEnd());
      if (gap > MAX_WRITE_GAP) await this.refuseGap(size, 'size');
      await this.hooks.bucket?.take(gap);
      await this.checkQuota(size);
      try {
        await this.inner.truncate!(size);
      } catch (err) {
        await this.fail(err);
        throw this.why ? this.gone() : err;
      }
      // The existing bytes no longer count past `size`: the file is `size` bytes, then writes.
      this.end = size;
      this.truncated = true;
    });
  }

  private truncated = false;

  /** The furthest byte the file has now: written, kept from the old file, or set by truncate. */
  private knownEnd(): number {
    return Math.max(this.end, this.inner.startOffset, this.truncated ? 0 : (this.hooks.replaced ?? 0));
  }

  /** A file growing to `end` bytes past the user's quota fails the handle (nothing stored). */
  private async checkQuota(end: number): Promise<void> {
    const q = this.hooks.quota;
    if (!q || end - (this.hooks.replaced ?? 0) <= q.headroom) return;
    const err = sessionError('QuotaExceeded', `quota exceeded: /${this.path} would grow past what is left`, {
      path: this.path,
    });
    await this.fail(err);
    throw err;
  }

  private async refuseGap(at: number, what: string): Promise<never> {
    const err = sessionError(
      'InvalidArgument',
      `${what} ${at} is more than ${MAX_WRITE_GAP / MiB} MiB past the end of /${this.path} (${this.knownEnd()} bytes): the gap would be stored as zeros`,
      { path: this.path },
    );
    await this.fail(err);
    throw err;
  }

  /** `update` mode only (WriteHandle.read): passes the download permission and bucket, counted. */
  read?: (offset: number, length: number) => Promise<Buffer>;

  private readBack(
    read: (offset: number, length: number) => Promise<Buffer>,
    offset: number,
    length: number,
  ): Promise<Buffer> {
    return this.run(async () => {
      if (this.state !== 'open') throw this.gone();
      this.hooks.reads?.allowed();
      // A refused read leaves the handle open (the backend's does too); a failed one ends it.
      const buf = await read(offset, length);
      await this.hooks.reads?.bucket?.take(buf.length);
      this.bytesRead += buf.length;
      return buf;
    });
  }

  setAttributes(attrs: WriteAttributes): Promise<void> {
    return this.run(() => this.inner.setAttributes(attrs));
  }

  close(): Promise<Entry> {
    return this.run(async () => {
      if (this.state !== 'open') throw this.gone();
      const q = this.hooks.quota;
      if (q) return q.ledger.serialize(q.username, this.path, () => this.settle(q));
      return this.settle(undefined);
    });
  }

  /** The final close: reserve the growth over what is replaced now, close the backend's handle. */
  private async settle(q: QuotaCharge | undefined): Promise<Entry> {
    // `update` starts as the whole existing file: its size counts though startOffset is 0.
    const base = this.truncated ? 0 : this.read ? (this.hooks.replaced ?? 0) : this.inner.startOffset;
    const size = Math.max(this.end, base);
    let replaced = this.hooks.replaced;
    try {
      if (q?.replacedNow) replaced = await q.replacedNow();
    } catch (err) {
      await this.fail(err);
      throw err;
    }
    const delta = {
      bytes: size - (replaced ?? 0),
      files: replaced === undefined ? 1 : 0,
    };
    if (q) {
      try {
        await q.ledger.reserve(q.username, delta, q.limits);
      } catch (err) {
        await this.fail(err);
        throw err;
      }
    }
    let entry: Entry;
    try {
      entry = await this.inner.close();
    } catch (err) {
      if (q) await q.ledger.adjust(q.username, { bytes: -delta.bytes, files: -delta.files }).catch(() => {});
      this.finish({ err, bytes: this.bytes, bytesRead: this.bytesRead });
      throw this.why ? this.gone() : err;
    }
    // The backend knows the final size (a sparse write, a resume): settle the difference.
    if (q && entry.size !== size) await q.ledger.adjust(q.username, { bytes: entry.size - size, files: 0 });
    this.finish({ bytes: this.bytes, bytesRead: this.bytesRead, entry });
    return entry;
  }

  /**
   * Give up: the backend's handle is aborted (nothing left behind). Idempotent, never throws.
   * `code` is what later calls fail with: InvalidArgument for the client's own doing (idle, went
   * away), Transient when the server ends the session (shutdown), so a client knows to retry.
   */
  async abort(why = 'aborted', code: StorageErrorCode = 'InvalidArgument'): Promise<void> {
    if (this.state === 'open') {
      this.why = why;
      this.whyCode = code;
    }
    await this.fail(sessionError(code, `write ${why}: /${this.path}`, { path: this.path }));
  }

  private gone(): Error {
    return sessionError(this.whyCode, `write handle ${this.why ?? 'closed'}: /${this.path}`, {
      path: this.path,
    });
  }

  private async fail(err: unknown): Promise<void> {
    if (this.state === 'open') this.ended.abort(this.why ? this.gone() : err);
    await this.inner.abort();
    this.finish({ err, bytes: this.bytes, bytesRead: this.bytesRead });
  }

  private finish(outcome: { err?: unknown; bytes: number; bytesRead: number; entry?: Entry }): void {
    if (this.state === 'done') return;
    this.state = 'done';
    clearTimeout(this.idle);
    this.hooks.signal?.removeEventListener('abort', this.onSignal);
    this.hooks.onEnd(outcome);
  }

  private run<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue
      .then(async () => {
        clearTimeout(this.idle);
        try {
          return await fn();
        } finally {
          this.touch();
        }
      })
      .catch((err: unknown) => {
        throw publicError(err, `/${this.path}`);
      });
    this.queue = next.catch(() => {});
    return next;
  }
}

/**
 * A read handle as a session hands it out: reads pass the user's download bucket, bytes are
 * counted, and closing it ends the download's event. `entry` carries the virtual path.
 */
export class SessionReadHandle implements ReadHandle {
  private bytes = 0;
  private closed = false;

  constructor(
    private readonly inner: ReadHandle,
    readonly entry: Entry,
    private readonly hooks: { bucket?: TokenBucket; onEnd(outcome: { err?: unknown; bytes: number }): void },
  ) {}

  get open(): boolean {
    return !this.closed;
  }

  async read(offset: number, length: number, options?: { signal?: AbortSignal }): Promise<Buffer> {
    let buf: Buffer;
    try {
      buf = await this.inner.read(offset, length, options);
    } catch (err) {
      throw publicError(err, `/${this.entry.path}`);
    }
    await this.hooks.bucket?.take(buf.length, options?.signal);
    this.bytes += buf.length;
    return buf;
  }

  /** As `read`, the bytes lent by the storage's handle when it lends (read-handle.ts `lend`). */
  async lend(offset: number, length: number, options?: { signal?: AbortSignal }): Promise<LentBytes> {
    let lent: LentBytes;
    try {
      lent = await lendBytes(this.inner, offset, length, options);
    } catch (err) {
      throw publicError(err, `/${this.entry.path}`);
    }
    try {
      await this.hooks.bucket?.take(lent.bytes.length, options?.signal);
    } catch (err) {
      lent.release();
      throw err;
    }
    this.bytes += lent.bytes.length;
    return lent;
  }

  stream(offset?: number, length?: number, options?: { signal?: AbortSignal }): Readable {
    return streamFromHandle(this, offset, length, options);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.inner.close();
    this.hooks.onEnd({ bytes: this.bytes });
  }
}
