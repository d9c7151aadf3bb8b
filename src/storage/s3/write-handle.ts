import { createHash, type Hash } from 'node:crypto';
import type { HeadObjectCommandOutput } from '@aws-sdk/client-s3';
import { MultipartSession } from '../../s3/multipart-session.js';
import { type PartBuffer, PartBuffers } from '../../s3/part-buffers.js';
import { PartPump } from '../../s3/part-pump.js';
import { MIN_PART_SIZE, partSizeFor } from '../../s3/upload.js';
import { StorageError } from '../errors.js';
import { BaseWriteHandle, checkFinalSize, type OpenWriteOptions } from '../handles.js';
import { baseName } from '../paths.js';
import type { Entry, StoragePath } from '../types.js';
import { contentTypeFor } from './entries.js';
import { checkClaim, claimName, dropClaim, hasConditionalComplete } from './exclusive-claim.js';
import { copyKeptParts, keptAttributes, readKeptBytes, rewriteAttributes } from './kept-parts.js';
import { formatMtime, MTIME_META } from './keys.js';
import { putOnePart } from './one-part-put.js';
import { PartSpiller } from './part-spill.js';
import { PendingWrites } from './pending-writes.js';
import type { S3Storage } from './s3-storage.js';

const MiB = 1024 * 1024;

/**
 * An S3 write handle (opened by open-write.ts; `update` mode is update-write-handle.ts, a subclass):
 * a multipart upload held open across the protocol's WRITE calls. Bytes at the next expected
 * offset stream into part buffers and out as parts (at most `concurrency` parts held, all from
 * the buffer budget, so a slow S3 slows the writer). Writes ahead of it wait in PendingWrites:
 * in memory inside the reorder window, in a spill file past it. Nothing is visible until close
 * (CompleteMultipartUpload, or one PutObject for a file smaller than a part); abort, failure,
 * idle timeout and the signal abort the upload.
 */
export class S3WriteHandle extends BaseWriteHandle {
  protected readonly key: string;
  protected readonly session: MultipartSession;
  protected readonly pump: PartPump;
  protected readonly buffers: PartBuffers;
  protected readonly pending: PendingWrites;
  protected cur: PartBuffer | undefined;
  protected filled = 0;
  /** The next byte of the file to stream: everything before it is in a part or `cur`. */
  protected pos: number;
  protected partNumber = 1;
  /** Parts copied from the existing object (append/resume). */
  protected copiedParts = 0;
  /** Attributes the multipart upload was created with (they can't change afterwards). */
  protected createdWith: string | undefined;
  /** Exclusive multipart on a store without conditional complete: the claim's id. */
  private claim: string | undefined;
  /** The first part holds kept bytes read at open: it starts at full size. */
  private keeping = false;
  /**
   * SHA-256 of `cur`'s first `hashed` bytes, taken as they are copied in (still in the CPU's
   * cache) and sent as the part's signed payload hash: the SDK would otherwise read all 16 MiB
   * again when it signs the part (one more pass over memory, and a stall of the event loop per
   * part). Undefined once bytes already hashed were written over: the SDK hashes that part.
   * A wrong hash cannot store wrong bytes: the store checks the body against it.
   */
  private partHash: Hash | undefined;
  private hashed = 0;
  /** Gives `cur` up to the budget while a reservation waits and this handle is idle. */
  private readonly spiller: PartSpiller;

  /** `existing`: the HEAD at open, when its bytes or attributes are kept (append, resume, update). */
  constructor(
    protected readonly s3: S3Storage,
    path: StoragePath,
    options: OpenWriteOptions,
    keep: number,
    protected readonly existing: HeadObjectCommandOutput | undefined,
  ) {
    const update = options.mode === 'update';
    super(path, options, update ? 0 : keep);
    this.pos = keep;
    this.key = s3.keys.file(path);
    const signal = this.aborter.signal;
    this.session = new MultipartSession(s3.client, {
      bucket: s3.bucket,
      key: this.key,
      partParams: s3.params.part,
      payer: s3.params.payer,
      signal,
      partAttempts: s3.upload.partAttempts,
    });
    this.pump = new PartPump(this.session, s3.upload.concurrency);
    this.buffers = new PartBuffers(s3.budget, signal);
    this.pending = new PendingWrites(s3.budget);
    this.spiller = new PartSpiller(s3.budget, this.buffers, this.pending, {
      idleMs: () => (this.calls > 0 ? -1 : Date.now() - this.lastCall),
      part: () => (this.cur === undefined ? undefined : { cur: this.cur, filled: this.filled }),
      dropPart: () => {
        this.cur = undefined;
      },
      between: (fn) => this.between(fn),
    });
    if (existing) this.attrs = keptAttributes(existing, options);
  }

  /** append/resume: the first `startOffset` bytes come from the existing object. */
  async keepExisting(keep = this.startOffset): Promise<void> {
    if (keep === 0) return;
    this.calls++; // not a call, but `cur` is in use: not to be spilled meanwhile
    try {
      await this.keepExistingBytes(keep);
    } finally {
      this.calls--;
      this.lastCall = Date.now();
    }
  }

  private async keepExistingBytes(keep: number): Promise<void> {
    if (this.options.size !== undefined && this.options.size < keep) {
      throw new StorageError(
        'InvalidArgument',
        `size ${this.options.size} is less than the ${keep} bytes kept: /${this.path}`,
        { path: this.path },
      );
    }
    const etag = this.existing?.ETag;
    if (keep >= MIN_PART_SIZE) {
      // Server-side: parts of ≤ 1 GiB (each ≥ 5 MiB), pinned to the version seen at open.
      await this.start();
      const parts = await copyKeptParts(
        this.s3,
        this.session,
        this.path,
        this.key,
        keep,
        etag,
        this.partNumber,
      );
      for (const part of parts) {
        this.pump.keep(part);
        this.partNumber++;
        this.copiedParts++;
      }
      this.pos = keep;
      return;
    }
    // Small: read the kept bytes into the first part buffer (sized as if streamed from 0).
    this.pos = 0;
    this.keeping = true;
    try {
      await this.ensureBuffer();
    } finally {
      this.keeping = false;
    }
    this.pos = keep;
    this.filled = await readKeptBytes(this.s3, this.key, keep, etag, this.cur!.buffer, this.aborter.signal);
    if (this.filled !== keep) throw new StorageError('Conflict', `/${this.path} changed while opening it`);
  }

  protected async doWrite(offset: number, bytes: Uint8Array): Promise<void> {
    let data = bytes;
    let at = offset;
    if (at < this.pos) {
      // Rewriting bytes already received: possible while they are still in the part being filled.
      const bufStart = this.pos - this.filled;
      if (at < bufStart || this.cur === undefined) {
        throw new StorageError(
          'NotSupported',
          `S3 cannot rewrite bytes already uploaded (offset ${at} < ${bufStart}): /${this.path}`,
          { path: this.path },
        );
      }
      const n = Math.min(data.length, this.pos - at);
      this.rewound(at - bufStart);
      this.cur.buffer.set(data.subarray(0, n), at - bufStart);
      data = data.subarray(n);
      at += n;
      if (data.length === 0) return;
    }
    if (at === this.pos) {
      await this.feed(data);
      await this.drainPending();
    } else {
      await this.pending.add(
        at,
        data,
        at + data.length <= this.pos + (this.s3.upload.writeWindow ?? 32 * MiB),
      );
    }
  }

  protected async doClose(): Promise<Entry> {
    while (!this.pending.empty) {
      await this.fillTo(this.pending.first!);
      await this.drainPending();
    }
    await this.fillTo(this.endAtClose());
    checkFinalSize(this.path, this.pos, this.options.size);
    const exclusive = this.options.mode === 'exclusive';
    let etag: string | undefined;
    if (this.session.uploadId === undefined) {
      etag = await this.putWhole(exclusive);
    } else {
      if (this.filled > 0 || this.partNumber === 1) await this.flush();
      const parts = await this.pump.drain();
      this.buffers.dispose();
      if (this.claim !== undefined) await checkClaim(this.s3, this.path, this.claim);
      const done = await this.s3.send('CompleteMultipartUpload', this.key, () =>
        this.session.complete(
          parts,
          exclusive && hasConditionalComplete(this.s3) ? { ifNoneMatch: '*' } : {},
        ),
      );
      etag = done.etag;
      this.claim = undefined; // replaced by the object itself
      if (this.createdWith !== JSON.stringify(this.objectAttrs()))
        etag = await rewriteAttributes(this.s3, this.path, this.key, this.objectAttrs());
    }
    await this.pending.close();
    await this.s3.noteMtime(this.key, etag, this.attrs.mtime);
    const { contentType, metadata } = this.objectAttrs();
    return {
      path: this.path,
      name: baseName(this.path),
      type: 'file',
      size: this.pos,
      mtime: this.attrs.mtime ?? new Date(),
      etag,
      contentType,
      metadata,
    };
  }

  protected async doAbort(): Promise<void> {
    await this.pump.settle();
    this.buffers.dispose();
    this.cur?.release();
    this.cur = undefined;
    await this.spiller.close();
    await this.pending.close();
    await this.session.abort();
    if (this.claim !== undefined) await dropClaim(this.s3, this.path, this.claim);
    this.claim = undefined;
  }

  protected override onFinish(): void {
    this.spiller.finish();
  }

  /** The part the spiller gave up, back in a part buffer before any call (part-spill.ts). */
  protected override async beforeCall(): Promise<void> {
    const part = await this.spiller.restore();
    if (part !== undefined) this.cur = part;
  }

  /** The file's size at close at least (filled by fillTo): nothing beyond what was written here. */
  protected endAtClose(): number {
    return 0;
  }

  /** Stream up to `to`: gaps never written are zeros. */
  protected async fillTo(to: number): Promise<void> {
    let zeros: Buffer | undefined;
    while (this.pos < to) {
      zeros ??= Buffer.alloc(Math.min(MiB, this.s3.upload.partSize));
      await this.feed(zeros.subarray(0, Math.min(zeros.length, to - this.pos)));
    }
  }

  /** Append `data` at `pos`, sending each part as it fills. */
  protected async feed(data: Uint8Array): Promise<void> {
    for (let at = 0; at < data.length; ) {
      await this.ensureBuffer();
      const n = Math.min(data.length - at, this.cur!.buffer.length - this.filled);
      this.cur!.buffer.set(data.subarray(at, at + n), this.filled);
      this.filled += n;
      this.pos += n;
      at += n;
      this.hashNew();
    }
  }

  /** Hash the bytes of `cur` filled since the last call. */
  protected hashNew(): void {
    if (this.partHash === undefined || this.hashed >= this.filled) return;
    this.partHash.update(this.cur!.buffer.subarray(this.hashed, this.filled));
    this.hashed = this.filled;
  }

  /** Bytes of `cur` from `at` on change (written over, or cut): the running hash no longer holds. */
  protected rewound(at: number): void {
    if (at < this.hashed) this.partHash = undefined;
  }

  /** Stream the pending pieces that now continue the file. */
  protected async drainPending(): Promise<void> {
    while (this.pending.first !== undefined && this.pending.first <= this.pos) {
      const p = this.pending.shift()!;
      try {
        if (p.end <= this.pos) continue;
        if (p.data) {
          await this.feed(p.data.subarray(this.pos - p.start));
          continue;
        }
        while (this.pos < p.end) {
          await this.ensureBuffer();
          const n = Math.min(p.end - this.pos, this.cur!.buffer.length - this.filled);
          await this.pending.readSpill(this.cur!.buffer, this.filled, n, this.pos);
          this.filled += n;
          this.pos += n;
          this.hashNew();
        }
      } finally {
        this.pending.done(p);
      }
    }
  }

  /** A buffer with room: the current one, or (the current one full) a new one once it is sent. */
  protected async ensureBuffer(): Promise<void> {
    this.pump.check();
    if (this.cur && this.filled < this.cur.buffer.length) return;
    if (this.cur && this.cur.buffer.length < this.cur.capacity) {
      // The first part starts small (most files are) and grows within its reservation.
      this.buffers.grow(this.cur, this.filled);
      return;
    }
    if (this.cur) await this.flush();
    await this.pump.room(this.s3.upload.concurrency - 1);
    const { partSize } = this.s3.upload;
    const size = this.options.size;
    let capacity = partSizeFor(this.partNumber - this.copiedParts, partSize, size);
    if (size !== undefined) capacity = Math.max(1, Math.min(capacity, size - this.pos));
    const first = this.partNumber === 1 && this.startOffset === 0 && !this.keeping;
    this.cur = await this.buffers.take(capacity, first ? Math.min(capacity, 256 * 1024) : capacity);
    this.filled = 0;
    // SigV2 signs no payload hash: nothing to take over from the SDK there.
    this.partHash = this.s3.conn.signature === 'v2' ? undefined : createHash('sha256');
    this.hashed = 0;
  }

  /** Send the current buffer as the next part (starting the upload first if needed). */
  protected async flush(): Promise<void> {
    const cur = this.cur!;
    this.hashNew();
    const sha256 = this.hashed === this.filled ? this.partHash?.digest('hex') : undefined;
    this.partHash = undefined;
    this.cur = undefined;
    try {
      await this.start();
    } catch (err) {
      cur.release();
      throw err;
    }
    this.pump.send(
      this.partNumber++,
      cur.buffer.subarray(0, this.filled),
      () => this.buffers.recycle(cur),
      sha256,
    );
    this.filled = 0;
  }

  /** Create the multipart upload (once), claiming the name first for an exclusive write. */
  private async start(): Promise<void> {
    if (this.session.uploadId !== undefined) return;
    if (this.options.mode === 'exclusive' && !hasConditionalComplete(this.s3))
      this.claim = await claimName(this.s3, this.path, this.aborter.signal);
    const attrs = this.objectAttrs();
    this.createdWith = JSON.stringify(attrs);
    this.session.target.params = {
      ...this.s3.params.create,
      ContentType: attrs.contentType,
      Metadata: attrs.metadata,
    };
    await this.s3.send('CreateMultipartUpload', this.key, () => this.session.create());
  }

  /** One PutObject for a file that never filled a part. */
  private async putWhole(exclusive: boolean): Promise<string | undefined> {
    const body = this.cur ? this.cur.buffer.subarray(0, this.filled) : Buffer.alloc(0);
    // The part's running hash is the whole file's here (the one part is all of it).
    if (this.cur) this.hashNew();
    const sha256 =
      this.cur && this.partHash !== undefined && this.hashed === this.filled
        ? this.partHash.digest('hex')
        : createHash('sha256').update(body).digest('hex');
    this.partHash = undefined;
    try {
      const attrs = this.objectAttrs();
      return await putOnePart(
        this.s3,
        this.path,
        this.key,
        body,
        sha256,
        attrs,
        exclusive,
        this.aborter.signal,
      );
    } finally {
      this.cur?.release();
      this.cur = undefined;
    }
  }

  /** Content type and metadata (mtime included) the object gets from the current attributes. */
  private objectAttrs(): { contentType: string; metadata: Record<string, string> } {
    const metadata = { ...this.s3.params.metadata, ...this.attrs.metadata };
    if (this.attrs.mtime) metadata[MTIME_META] = formatMtime(this.attrs.mtime);
    return { contentType: this.attrs.contentType ?? contentTypeFor(this.path), metadata };
  }
}
