import { StorageError } from './errors.js';
import type { Entry, StoragePath } from './types.js';

/**
 * The write handle: what a protocol server (SFTP WRITE, FTP STOR/APPE/REST, WebDAV PUT) holds
 * between opening a file for writing and closing it.
 *
 * Contract (test/conformance/write-handle-contract.ts checks it on every backend):
 * - `write(offset, bytes)` any number of times, in any order; bytes may be reused by the caller
 *   as soon as the promise resolves. Gaps never written read back as zeros.
 * - Nothing is visible at `path` until `close()` resolves; then the whole new file is, at once
 *   (an overwrite replaces the old file only when the new one is complete).
 * - `abort()`, an idle timeout or the signal leave nothing behind (the old file, if any, stays).
 * - A failed `write` or `close` aborts the handle.
 * - `size`, when given, is checked at close: a file that ended early (or ran past it) is not
 *   stored (InvalidArgument).
 * Modes:
 * - `truncate` (default): create, or replace at close.
 * - `exclusive`: create only; AlreadyExists if a file is there at open or appears before close
 *   (two racing exclusive writers: exactly one wins).
 * - `append`: the new file starts with all of the existing file's bytes (none if missing); writes
 *   go at offsets ≥ `startOffset` (the existing size).
 * - `resume`: the new file starts with the first `resumeFrom` bytes of the existing file (FTP
 *   REST + STOR); NotFound when missing, InvalidArgument when shorter than `resumeFrom`.
 * - `update`: the new file starts as the whole existing file (empty when missing: created), and
 *   writes land at any offset, over existing bytes or past the end (SFTP OPEN without TRUNC:
 *   OpenSSH's `reput`, random writes, read+write opens). `startOffset` is 0 and the handle has
 *   `read`, which returns the bytes as they are now (existing ones overlaid by the writes).
 *   Writes only from the existing end onward (a resumed upload) must not fetch or re-send the
 *   existing bytes (S3: server-side part copy, as `resume`); writes over existing bytes may stage
 *   the file on local disk (never in memory beyond the usual buffers) and send it at close.
 *   The handle also has `truncate(size)`: the file's size becomes `size` (shorter: the bytes past
 *   it are gone, existing or written; longer: zeros), in call order with the writes (SFTP
 *   FSETSTAT size, which OpenSSH's `scp` sends after overwriting a file in place).
 */
export type WriteMode = 'truncate' | 'exclusive' | 'append' | 'resume' | 'update';

export interface WriteAttributes {
  /** Modification time to record (S3: `X-Amz-Meta-Mtime`). */
  mtime?: Date;
  contentType?: string;
  /** User metadata (names in lower case); replaces what was given before. */
  metadata?: Record<string, string>;
}

export interface OpenWriteOptions extends WriteAttributes {
  mode?: WriteMode;
  /** `resume` only: bytes of the existing file to keep (default: all of them). */
  resumeFrom?: number;
  /** Final size when known: sizes parts up front, and is checked at close. */
  size?: number;
  /** Aborting it aborts the handle (a client that disconnected). */
  signal?: AbortSignal;
  /** Abort the handle when no call came for this long (default: never). */
  idleTimeoutMs?: number;
}

export interface WriteHandle {
  readonly path: StoragePath;
  /** Where the caller's bytes begin: 0, or the bytes kept by `append` / `resume`. */
  readonly startOffset: number;
  write(offset: number, bytes: Uint8Array): Promise<void>;
  /**
   * Attributes for the file, given before close. Free on every backend while the file is small
   * enough to go up whole at close; on S3 a file already being sent in parts costs one
   * server-side copy at close when the attributes changed (S3 fixes metadata at upload start).
   */
  setAttributes(attrs: WriteAttributes): Promise<void>;
  /** Finish: the file appears (or replaces the old one) whole. */
  close(): Promise<Entry>;
  /** Give up: nothing is left behind. Idempotent, never throws. */
  abort(): Promise<void>;
  /**
   * `update` mode only: `length` bytes from `offset` of the file as it is now (the existing bytes
   * overlaid by the writes so far), fewer at the end. Runs in call order with the writes.
   */
  read?(offset: number, length: number): Promise<Buffer>;
  /**
   * `update` mode only: the file's size becomes `size` (shorter: bytes past it gone; longer:
   * zeros up to it). Runs in call order with the writes; later writes may grow it again.
   */
  truncate?(size: number): Promise<void>;
}

/**
 * What every backend's handle shares: calls run one at a time in call order (a server may
 * pipeline WRITEs without waiting), the idle timer, the signal, the closed/aborted state, and
 * argument checks. A backend supplies `doWrite`, `doClose` and `doAbort`.
 */
export abstract class BaseWriteHandle implements WriteHandle {
  protected attrs: WriteAttributes;
  /**
   * Fires when the handle is aborted (by `abort`, the idle timer, the caller's signal or a failed
   * call): backends pass it to every wait and S3 call, so a stuck call ends and `doAbort` runs
   * only after it.
   */
  protected readonly aborter = new AbortController();
  private queue: Promise<unknown> = Promise.resolve();
  private state: 'open' | 'closing' | 'closed' | 'aborted' = 'open';
  private why = '';
  private idle: NodeJS.Timeout | undefined;
  /** The cleanup of the first abort, once one began. */
  private aborting: Promise<void> | undefined;
  private readonly onSignal = () => void this.abortFor('the client went away (signal aborted)');
  /** Whether any bytes were written (an `update` closed untouched leaves the file as it was). */
  protected wrote = false;
  /** The attributes at open, to tell whether `setAttributes` changed them. */
  protected readonly openedAttrs: string;

  constructor(
    readonly path: StoragePath,
    protected readonly options: OpenWriteOptions,
    public startOffset = 0,
  ) {
    this.attrs = { mtime: options.mtime, contentType: options.contentType, metadata: options.metadata };
    this.openedAttrs = JSON.stringify(this.attrs);
    if (options.mode === 'update') {
      this.read = (offset, length) => this.readInOrder(offset, length);
      this.truncate = (size) => this.truncateInOrder(size);
    }
    options.signal?.addEventListener('abort', this.onSignal, { once: true });
    this.touch();
  }

  /** `update` mode, closing: nothing written, no attribute changed (the file may stay as it is). */
  protected get untouched(): boolean {
    return this.options.mode === 'update' && !this.wrote && JSON.stringify(this.attrs) === this.openedAttrs;
  }

  protected abstract doWrite(offset: number, bytes: Uint8Array): Promise<void>;
  protected abstract doClose(): Promise<Entry>;
  protected abstract doAbort(): Promise<void>;
  /** `update` mode: the bytes as they are now (`length` ≥ 1; fewer at the end of the file). */
  protected doRead(_offset: number, _length: number): Promise<Buffer> {
    throw new StorageError('NotSupported', `this handle cannot read: /${this.path}`, { path: this.path });
  }

  /** `update` mode: the file's size becomes `size` (≥ 0; see WriteHandle.truncate). */
  protected doTruncate(_size: number): Promise<void> {
    throw new StorageError('NotSupported', `this handle cannot truncate: /${this.path}`, { path: this.path });
  }

  /** Set in `update` mode only (see WriteHandle.read). */
  read?: (offset: number, length: number) => Promise<Buffer>;
  /** Set in `update` mode only (see WriteHandle.truncate). */
  truncate?: (size: number) => Promise<void>;

  /** A failed truncate aborts the handle, as a failed write does (the file would be wrong). */
  private truncateInOrder(size: number): Promise<void> {
    return this.run(async () => {
      if (!Number.isSafeInteger(size) || size < 0) {
        throw new StorageError('InvalidArgument', `size must be an integer ≥ 0, got ${size}: /${this.path}`, {
          path: this.path,
        });
      }
      const declared = this.options.size;
      if (declared !== undefined && size > declared) checkFinalSize(this.path, size, declared);
      this.wrote = true;
      await this.doTruncate(size);
    });
  }

  /**
   * A read runs in call order with the writes; a refused or failed read does not abort the handle
   * (the client may go on writing), but a read on a closed or aborted handle is refused.
   */
  private readInOrder(offset: number, length: number): Promise<Buffer> {
    return this.run(async () => {
      if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0) {
        throw new StorageError(
          'InvalidArgument',
          `read offset and length must be integers ≥ 0, got ${offset}, ${length}: /${this.path}`,
          { path: this.path },
        );
      }
      return length === 0 ? Buffer.alloc(0) : this.doRead(offset, length);
    }, false);
  }

  write(offset: number, bytes: Uint8Array): Promise<void> {
    return this.run(async () => {
      if (!Number.isSafeInteger(offset) || offset < this.startOffset) {
        throw new StorageError(
          'InvalidArgument',
          `write offset must be an integer ≥ ${this.startOffset}, got ${offset}: /${this.path}`,
          { path: this.path },
        );
      }
      // Past the declared size: refused now rather than at close (and, on S3, before it could
      // make parts too small for the store to accept).
      const { size } = this.options;
      if (size !== undefined && offset + bytes.length > size)
        checkFinalSize(this.path, offset + bytes.length, size);
      if (bytes.length > 0) {
        this.wrote = true;
        await this.doWrite(offset, bytes);
      }
    });
  }

  setAttributes(attrs: WriteAttributes): Promise<void> {
    try {
      if (attrs.mtime !== undefined) checkModTime(attrs.mtime, this.path);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.run(async () => {
      this.attrs = { ...this.attrs, ...attrs };
    });
  }

  close(): Promise<Entry> {
    return this.run(async () => {
      this.state = 'closing';
      clearTimeout(this.idle);
      const entry = await this.doClose();
      this.finish('closed');
      return entry;
    });
  }

  async abort(): Promise<void> {
    await this.abortFor('aborted');
  }

  /** Calls queued or running (`between` work is not a call). */
  protected calls = 0;
  /** When the last call ended (Date.now()); the handle's creation before any. */
  protected lastCall = Date.now();

  /** Run before each call, in the queue (an S3 handle reads back a part it spilled). */
  protected async beforeCall(): Promise<void> {}

  /** The handle was closed or aborted (once). */
  protected onFinish(): void {}

  /**
   * Run `fn` in the queue between calls while the handle is open: not a call (the idle clock
   * and `calls` are not touched); its failure is `fn`'s to handle (swallowed here). An abort
   * waits for it, as for a call.
   */
  protected between(fn: () => Promise<void>): void {
    this.queue = this.queue.then(async () => {
      if (this.state === 'open') await fn();
    });
    this.queue = this.queue.catch(() => {});
  }

  /** Run `fn` after every earlier call; a failure aborts the handle. */
  private run<T>(fn: () => Promise<T>, abortOnFailure = true): Promise<T> {
    this.calls++;
    const next = this.queue.then(async () => {
      try {
        this.ensureOpen();
        // The idle clock runs only between calls: a call waiting on a slow store is not idle.
        clearTimeout(this.idle);
        try {
          await this.beforeCall();
          const result = await fn();
          this.touch();
          return result;
        } catch (err) {
          if (abortOnFailure) await this.abortFor(`a call failed: ${(err as Error).message}`, true);
          else this.touch();
          throw err;
        }
      } finally {
        this.calls--;
        this.lastCall = Date.now();
      }
    });
    this.queue = next.catch(() => {});
    return next;
  }

  private ensureOpen(): void {
    if (this.state === 'open') return;
    throw new StorageError('InvalidArgument', `write handle ${this.state}${this.why}: /${this.path}`, {
      path: this.path,
    });
  }

  private touch(): void {
    const ms = this.options.idleTimeoutMs;
    if (ms === undefined || this.state !== 'open') return;
    clearTimeout(this.idle);
    this.idle = setTimeout(() => void this.abortFor(`after ${ms} ms without a call`), ms);
    this.idle.unref?.();
  }

  /**
   * `inQueue`: called from the running call itself (so not waiting for the queue). A later
   * `abort()` waits for the cleanup an earlier abort (signal, idle timer, failed call) started,
   * so that when it resolves nothing is left (a call in the queue must not wait for it: the
   * cleanup waits for the queue).
   */
  private abortFor(why: string, inQueue = false): Promise<void> {
    if (this.aborting) return inQueue ? Promise.resolve() : this.aborting;
    if (this.state === 'closed' || this.state === 'aborted') return Promise.resolve();
    this.aborting = this.abortNow(why, inQueue);
    return this.aborting;
  }

  private async abortNow(why: string, inQueue: boolean): Promise<void> {
    this.finish('aborted');
    this.why = ` (${why})`;
    this.aborter.abort(
      new StorageError('InvalidArgument', `write handle aborted (${why}): /${this.path}`, {
        path: this.path,
      }),
    );
    if (!inQueue) await this.queue;
    await this.doAbort().catch(() => {});
  }

  private finish(state: 'closed' | 'aborted'): void {
    this.state = state;
    clearTimeout(this.idle);
    this.options.signal?.removeEventListener('abort', this.onSignal);
    this.onFinish();
  }
}

/** The final size check every backend makes at close (an upload that ended early). */
export function checkFinalSize(path: StoragePath, got: number, declared: number | undefined): void {
  if (declared === undefined || got === declared) return;
  const what = got < declared ? 'ended early' : 'ran past its declared size';
  throw new StorageError(
    'InvalidArgument',
    `write of /${path} ${what}: ${got} of ${declared} bytes; nothing was stored`,
    { path },
  );
}

/** Years 1 to 9999: what every backend and protocol can carry (S3's X-Amz-Meta-Mtime, ISO dates). */
const MIN_TIME = -62_135_596_800_000; // 0001-01-01T00:00:00Z
const MAX_TIME = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

/**
 * A modification time no backend can keep (an invalid Date, NaN from a client's number, a year
 * past 9999) is refused with InvalidArgument before anything is stored; checkedStorage calls this
 * for every write, open and setModTime, the write handles for setAttributes.
 */
export function checkModTime(mtime: Date, path: StoragePath): void {
  const t = mtime instanceof Date ? mtime.getTime() : Number.NaN;
  if (!Number.isFinite(t) || t < MIN_TIME || t > MAX_TIME) {
    throw new StorageError('InvalidArgument', `not a modification time a file can have: /${path}`, { path });
  }
}
