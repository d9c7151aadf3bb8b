import type { MtimeJoin } from './listing.js';
import type { MtimeIndex } from './mtime-index.js';

/**
 * An S3Storage's use of its mtime index (mtime-index.ts), in its scope: what a write, a removal
 * and a listing page tell it. Without an index each call does nothing. A failed index call never
 * fails the S3 operation: it goes to `onError` (the server logs it).
 */
export class MtimeNotes {
  /** A listing page's join with the index (one lookup per page); undefined without an index. */
  readonly join: MtimeJoin | undefined;

  constructor(
    private readonly index: MtimeIndex | undefined,
    private readonly scope: string,
    private readonly onError: (err: unknown) => void,
    /** The ETag of `key` now (one HEAD). */
    private readonly etagOf: (key: string) => Promise<string | undefined>,
  ) {
    this.join = index && ((objects) => this.lookup(index, objects));
  }

  /**
   * After Ferry wrote `key` (ETag `etag`): record its client mtime, or, written without one,
   * forget an older record (an identical rewrite would keep the ETag and so show a stale time).
   */
  async note(key: string, etag: string | undefined, mtime: Date | undefined): Promise<void> {
    if (!this.index) return;
    try {
      // RGW's CompleteMultipartUpload answer may carry no ETag: one HEAD finds it.
      if (mtime && !etag) etag = await this.etagOf(key);
      if (mtime && etag) await this.index.record(this.scope, key, etag, mtime);
      else await this.index.forget(this.scope, [key]);
    } catch (err) {
      this.onError(err);
    }
  }

  /** Removed (or renamed away) keys leave the index. */
  async forget(keys: readonly string[]): Promise<void> {
    if (!this.index || keys.length === 0) return;
    try {
      await this.index.forget(this.scope, keys);
    } catch (err) {
      this.onError(err);
    }
  }

  private async lookup(
    index: MtimeIndex,
    objects: Parameters<MtimeJoin>[0],
  ): Promise<Map<string, Date> | undefined> {
    const files = objects.filter((o) => o.Key && o.ETag && !o.Key.endsWith('/'));
    if (files.length === 0) return undefined;
    try {
      return await index.lookup(
        this.scope,
        files.map((o) => ({ key: o.Key!, etag: o.ETag! })),
      );
    } catch (err) {
      this.onError(err);
      return undefined;
    }
  }
}
