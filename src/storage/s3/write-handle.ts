import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { GetObjectCommand, type HeadObjectCommandOutput } from '@aws-sdk/client-s3';
import { SHA256_META } from '../../s3/checksum.js';
import { copyObject } from '../../s3/copy.js';
import { putObject } from '../../s3/exclusive-put.js';
import { MultipartSession } from '../../s3/multipart-session.js';
import { type PartBuffer, PartBuffers } from '../../s3/part-buffers.js';
import { PartPump } from '../../s3/part-pump.js';
import { MAX_OBJECT_SIZE, MAX_PART_SIZE, MIN_PART_SIZE, partSizeFor } from '../../s3/upload.js';
import { StorageError } from '../errors.js';
import { BaseWriteHandle, checkFinalSize, type OpenWriteOptions, type WriteHandle } from '../handles.js';
import { resumeLength } from '../memory/write-handle.js';
import { baseName } from '../paths.js';
import type { Entry, StoragePath } from '../types.js';
import { contentTypeFor, headEntry } from './entries.js';
import {
  checkClaim,
  claimName,
  dropClaim,
  exclusiveLost,
  hasConditionalComplete,
} from './exclusive-claim.js';
import { fetchExisting } from './existing-range.js';
import { checkAncestors } from './folders.js';
import { checkFileName, formatMtime, isDirMarkerHead, MTIME_META } from './keys.js';
import { PendingWrites } from './pending-writes.js';
import type { S3Storage } from './s3-storage.js';
import { StageFile } from './stage-file.js';

const MiB = 1024 * 1024;

/**
 * Open an S3 write handle (see handles.ts for the contract). Costs a HEAD (and a one-key LIST
 * when nothing is at `path`, to refuse a folder) plus a HEAD per ancestor (none may be a file); `append`/`resume` then copy the kept bytes
 * server-side (UploadPartCopy, from 5 MiB) or read them into the first part.
 */
export async function openS3Write(
  s3: S3Storage,
  path: StoragePath,
  options: OpenWriteOptions,
): Promise<WriteHandle> {
  const mode = options.mode ?? 'truncate';
  checkFileName(path);
  if (options.size !== undefined && options.size > MAX_OBJECT_SIZE) {
    // A declared size sets the part size (size / 10,000 parts): refused before any buffer or
    // request, not after S3 refuses the 10,001st part.
    throw new StorageError('InvalidArgument', `too large for S3 (at most 5 TiB): /${path}`, { path });
  }
  // No file below a file (folders.ts): one HEAD per ancestor, alongside the HEAD of `path`.
  const [head] = await Promise.all([s3.head(path), checkAncestors(s3, path)]);
  if (
    head
      ? isDirMarkerHead(head.ContentLength, head.ContentType)
      : (await s3.firstKeyUnder(path)) !== undefined
  ) {
    throw new StorageError('IsADirectory', `is a folder: /${path}`, { path });
  }
  if (mode === 'exclusive' && head)
    throw new StorageError('AlreadyExists', `already exists: /${path}`, { path });
  const keep =
    mode === 'append'
      ? (head?.ContentLength ?? 0)
      : mode === 'resume'
        ? resumeLength(path, head?.ContentLength, options.resumeFrom)
        : 0;
  const update = mode === 'update';
  const handle = new S3WriteHandle(s3, path, options, keep, keep > 0 || update ? head : undefined);
  try {
    await handle.keepExisting();
  } catch (err) {
    await handle.abort();
    throw err;
  }
  return handle;
}

/**
 * A multipart upload held open across the protocol's WRITE calls. Bytes at the next expected
 * offset stream into part buffers and out as parts (at most `concurrency` parts held, all from
 * the buffer budget, so a slow S3 slows the writer). Writes ahead of it wait in PendingWrites:
 * in memory inside the reorder window, in a spill file past it. Nothing is visible until close
 * (CompleteMultipartUpload, or one PutObject for a file smaller than a part); abort, failure,
 * idle timeout and the signal abort the upload.
 */
class S3WriteHandle extends BaseWriteHandle {
  private readonly key: string;
  private readonly session: MultipartSession;
  private readonly pump: PartPump;
  private readonly buffers: PartBuffers;
  private readonly pending: PendingWrites;
  private cur: PartBuffer | undefined;
  private filled = 0;
  /** The next byte of the file to stream: everything before it is in a part or `cur`. */
  private pos: number;
  private partNumber = 1;
  /** Parts copied from the existing object (append/resume). */
  private copiedParts = 0;
  /** Attributes the multipart upload was created with (they can't change afterwards). */
  private createdWith: string | undefined;
  /** Exclusive multipart on a store without conditional complete: the claim's id. */
  private claim: string | undefined;
  /**
   * `update` mode decides at the first call. A write at or past the existing end streams like
   * `resume` (the existing bytes copied server-side, nothing fetched or re-sent: a resumed
   * upload). A write over existing bytes, or a read, switches to a StageFile (the existing object
   * fetched once; sent whole at close). The switch can happen later too, as long as no part
   * holding the caller's bytes has gone out: those bytes are then all still here (in the part
   * being filled and in PendingWrites) and move into the stage. After that, a write behind the
   * bytes sent is refused (NotSupported) and a read of them too; other reads are served from the
   * existing object, the part being filled and the pending writes.
   * A first write at offset 0 over an existing file (OpenSSH `scp` overwriting in place, then
   * FSETSTAT size) goes to 'overwrite': the caller's bytes stream out as parts from 0, as in
   * `truncate` mode, and only the existing bytes still needed at close (gaps the caller skipped
   * and the old tail below `keptEnd`) are fetched then, by ranged GETs pinned with If-Match;
   * bytes overwritten or cut by `truncate` are never fetched. Until a part went out, a write
   * behind the part being filled, a read, or a cut below it switches to the stage (fetching only
   * [0, keptEnd)); after, they are refused (NotSupported).
   */
  private phase: 'undecided' | 'stream' | 'overwrite' | 'staged';
  /** `update`: existing bytes still part of the file (a truncate below the old end cuts them). */
  private keptEnd: number;
  /** `update`: the size the last truncate set (later writes may grow past it). */
  private minSize = 0;
  private stage: StageFile | undefined;
  /** `update`: size of the existing object (0 when none). */
  private readonly existingSize: number;
  /** The first part holds kept bytes read at open: it starts at full size. */
  private keeping = false;
  /** `update`: the attributes at open, to tell a close with nothing changed (no request then). */
  private readonly openedWith: string;

  constructor(
    private readonly s3: S3Storage,
    path: StoragePath,
    options: OpenWriteOptions,
    keep: number,
    private readonly existing: HeadObjectCommandOutput | undefined,
  ) {
    const update = options.mode === 'update';
    super(path, options, update ? 0 : keep);
    this.pos = keep;
    this.phase = update ? 'undecided' : 'stream';
    this.existingSize = update ? (existing?.ContentLength ?? 0) : keep;
    this.keptEnd = this.existingSize;
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
    if (existing) {
      // Appending keeps what the file was unless the caller says otherwise.
      const { [SHA256_META]: _, ...metadata } = existing.Metadata ?? {};
      // Changed bytes: the old mtime no longer describes them (a new one may be given).
      if (update) delete metadata[MTIME_META];
      this.attrs = {
        contentType: options.contentType ?? existing.ContentType,
        metadata: options.metadata ?? metadata,
        mtime: options.mtime,
      };
    }
    this.openedWith = JSON.stringify(this.attrs);
  }

  /** append/resume: the first `startOffset` bytes come from the existing object. */
  async keepExisting(keep = this.startOffset): Promise<void> {
    if (keep === 0) return;
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
      const n = Math.ceil(keep / Math.min(MAX_PART_SIZE, 1024 * MiB));
      const step = Math.ceil(keep / n);
      for (let from = 0; from < keep; from += step) {
        const to = Math.min(keep, from + step) - 1;
        const copy = (ifMatch: string | undefined) =>
          this.session.copyPart(this.partNumber, {
            bucket: this.s3.bucket,
            key: this.key,
            from,
            to,
            ifMatch,
            copySourceParams: this.s3.params.copySource as Record<string, string | undefined>,
          });
        const part = await this.s3.send('UploadPartCopy', this.key, async () => {
          try {
            return await copy(etag);
          } catch (err) {
            // Swift's s3api answers 412 to a correct If-Match on a multipart source's `"…-N"`
            // ETag (src/s3/part-copy.ts): if a HEAD shows the same ETag, copy without the
            // condition; a different one is a real change (the 412 stands: Conflict).
            if ((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode !== 412)
              throw err;
            if ((await this.s3.head(this.path))?.ETag !== etag) throw err;
            return copy(undefined);
          }
        });
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
    const res = await this.s3.send('GetObject', this.key, () =>
      this.s3.client.send(
        new GetObjectCommand({
          Bucket: this.s3.bucket,
          Key: this.key,
          Range: `bytes=0-${keep - 1}`,
          IfMatch: etag,
          ...this.s3.params.read,
        }),
        { abortSignal: this.aborter.signal },
      ),
    );
    for await (const chunk of res.Body as Readable) {
      const c = chunk as Buffer;
      c.copy(this.cur!.buffer, this.filled);
      this.filled += c.length;
    }
    if (this.filled !== keep) throw new StorageError('Conflict', `/${this.path} changed while opening it`);
  }

  protected async doWrite(offset: number, bytes: Uint8Array): Promise<void> {
    if (this.phase === 'undecided') {
      if (offset >= this.existingSize) await this.beginStream();
      else if (offset === 0) this.phase = 'overwrite';
      else await this.toStaged(offset);
    } else if (this.phase === 'overwrite' && offset < this.pos - this.filled) {
      await this.toStaged(offset);
    } else if (
      this.phase === 'stream' &&
      this.options.mode === 'update' &&
      (offset < this.existingSize || offset < this.pos - this.filled)
    ) {
      await this.toStaged(offset);
    }
    if (this.phase === 'staged') return this.stage!.write(offset, bytes);
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

  protected override async doTruncate(size: number): Promise<void> {
    const E = this.existingSize;
    if (this.phase === 'undecided') {
      if (size >= E) await this.beginStream();
      else this.phase = 'overwrite';
    }
    if (this.phase !== 'staged') {
      const bufStart = this.pos - this.filled;
      if ((this.phase === 'stream' && size < E) || size < bufStart || (this.pending.end ?? 0) > size)
        await this.toStaged(); // refused once the bytes to cut went out in a part
    }
    if (this.phase === 'staged') return this.stage!.truncate(size);
    if (size < this.pos) {
      this.filled -= this.pos - size;
      this.pos = size;
    }
    this.keptEnd = Math.min(this.keptEnd, size);
    this.minSize = size;
  }

  protected override async doRead(offset: number, length: number): Promise<Buffer> {
    if (this.phase === 'undecided' || this.phase === 'overwrite' || this.switchable) await this.toStaged();
    if (this.phase === 'staged') return this.stage!.read(offset, length);
    return this.readStreamed(offset, length);
  }

  protected async doClose(): Promise<Entry> {
    if (this.phase === 'undecided') {
      // Opened (read+write, say) and closed with nothing written or set: the file stays as it is.
      const { size } = this.options;
      if (
        this.existing &&
        JSON.stringify(this.attrs) === this.openedWith &&
        (size ?? this.existingSize) === this.existingSize
      )
        return headEntry(this.path, this.existing, 'file');
      await this.beginStream();
    }
    if (this.phase === 'staged') await this.sendStage();
    while (!this.pending.empty) {
      await this.fillTo(this.pending.first!);
      await this.drainPending();
    }
    if (this.phase !== 'staged')
      await this.fillTo(Math.max(this.minSize, this.phase === 'overwrite' ? this.keptEnd : 0));
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
      if (this.createdWith !== JSON.stringify(this.objectAttrs())) etag = await this.rewriteAttributes();
    }
    await this.pending.close();
    await this.stage?.close();
    this.stage = undefined;
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
    await this.pending.close();
    await this.session.abort();
    await this.stage?.close();
    this.stage = undefined;
    if (this.claim !== undefined) await dropClaim(this.s3, this.path, this.claim);
    this.claim = undefined;
  }

  /**
   * Stream up to `to`: gaps never written are zeros, except in 'overwrite' below `keptEnd`,
   * where they are the existing bytes (fetched now, only these).
   */
  private async fillTo(to: number): Promise<void> {
    if (this.phase === 'overwrite' && this.pos < Math.min(to, this.keptEnd)) {
      await fetchExisting(
        this.s3,
        this.path,
        this.key,
        this.existing?.ETag,
        this.pos,
        Math.min(to, this.keptEnd),
        this.aborter.signal,
        (chunk) => this.feed(chunk),
      );
    }
    let zeros: Buffer | undefined;
    while (this.pos < to) {
      zeros ??= Buffer.alloc(Math.min(MiB, this.s3.upload.partSize));
      await this.feed(zeros.subarray(0, Math.min(zeros.length, to - this.pos)));
    }
  }

  /** `update`: go on from the existing end, keeping the existing bytes as `resume` does. */
  private async beginStream(): Promise<void> {
    this.phase = 'stream';
    await this.keepExisting(this.existingSize);
  }

  /** Whether every byte the caller wrote is still here (no part holding one has gone out). */
  private get switchable(): boolean {
    return (
      (this.phase === 'stream' || this.phase === 'overwrite') && this.partNumber - 1 === this.copiedParts
    );
  }

  /**
   * `update`: move to a StageFile: the existing object fetched once, then the caller's bytes so
   * far (the part being filled from the existing end on, and the pending writes) written over it.
   * Refused when a part holding the caller's bytes has gone out (`writeAt` names the write).
   */
  private async toStaged(writeAt?: number): Promise<void> {
    if ((this.phase === 'stream' || this.phase === 'overwrite') && !this.switchable) {
      const sent = this.pos - this.filled;
      throw new StorageError(
        'NotSupported',
        `S3 cannot change or read back bytes already uploaded: ${writeAt === undefined ? 'a read' : `a write at ${writeAt}`} ` +
          `comes after bytes up to ${sent} were sent; write this file from the start instead: /${this.path}`,
        { path: this.path },
      );
    }
    const E = this.existingSize;
    const stage = await StageFile.open();
    this.stage = stage;
    // Only the existing bytes still in the file (a truncate may have cut the rest).
    let at = 0;
    await fetchExisting(
      this.s3,
      this.path,
      this.key,
      this.existing?.ETag,
      0,
      this.keptEnd,
      this.aborter.signal,
      async (c) => {
        await stage.write(at, c);
        at += c.length;
      },
    );
    if (this.minSize > stage.size) await stage.truncate(this.minSize);
    if (this.phase === 'stream' || this.phase === 'overwrite') {
      if (this.cur) {
        const bufStart = this.pos - this.filled;
        // 'stream' holds the kept existing bytes below E in its first part: not the caller's.
        const from = this.phase === 'overwrite' ? bufStart : Math.max(E, bufStart);
        if (from < this.pos) await stage.write(from, this.cur.buffer.subarray(from - bufStart, this.filled));
        this.cur.release();
        this.cur = undefined;
      }
      this.filled = 0;
      const chunk = Buffer.allocUnsafe(MiB);
      for (let p = this.pending.shift(); p; p = this.pending.shift()) {
        try {
          if (p.data) await stage.write(p.start, p.data);
          else {
            for (let at = p.start; at < p.end; at += chunk.length) {
              const n = Math.min(chunk.length, p.end - at);
              await this.pending.readSpill(chunk, 0, n, at);
              await stage.write(at, chunk.subarray(0, n));
            }
          }
        } finally {
          this.pending.done(p);
        }
      }
      await this.pending.close();
      // Only copied parts went out: drop them (or, when the abort failed, overwrite them).
      if (await this.session.abort()) {
        this.session.uploadId = undefined;
        this.createdWith = undefined;
      }
      this.pump.parts.length = 0;
      this.partNumber = 1;
      this.copiedParts = 0;
      this.pos = 0;
    }
    this.phase = 'staged';
  }

  /**
   * A read after the caller's bytes began going out in parts: the existing bytes come from the
   * object (pinned by ETag), the rest from the part being filled and the pending writes; gaps are
   * zeros. Bytes already sent in parts are refused (NotSupported).
   */
  private async readStreamed(offset: number, length: number): Promise<Buffer> {
    const size = Math.max(this.pos, this.pending.end ?? 0, this.minSize);
    const out = Buffer.alloc(Math.max(0, Math.min(length, size - offset)));
    const end = offset + out.length;
    const bufStart = this.pos - this.filled;
    const E = this.existingSize;
    if (out.length === 0) return out;
    if (Math.max(offset, E) < Math.min(end, bufStart)) await this.toStaged();
    if (offset < E) {
      const to = Math.min(end, E);
      const res = await this.s3.send('GetObject', this.key, () =>
        this.s3.client.send(
          new GetObjectCommand({
            Bucket: this.s3.bucket,
            Key: this.key,
            Range: `bytes=${offset}-${to - 1}`,
            IfMatch: this.existing?.ETag,
            ...this.s3.params.read,
          }),
          { abortSignal: this.aborter.signal },
        ),
      );
      let at = 0;
      for await (const c of res.Body as Readable) {
        (c as Buffer).copy(out, at);
        at += (c as Buffer).length;
      }
    }
    if (this.cur && end > bufStart && offset < this.pos) {
      const from = Math.max(offset, bufStart, E);
      const to = Math.min(end, this.pos);
      if (from < to) this.cur.buffer.copy(out, from - offset, from - bufStart, to - bufStart);
    }
    if (end > this.pos) {
      const from = Math.max(offset, this.pos);
      await this.pending.copyOut(out.subarray(from - offset), from);
    }
    return out;
  }

  /** `update`, staged: send the stage file through the usual path (parts, or one PutObject). */
  private async sendStage(): Promise<void> {
    const stage = this.stage!;
    while (this.pos < stage.size) {
      await this.ensureBuffer();
      const n = Math.min(stage.size - this.pos, this.cur!.buffer.length - this.filled);
      await stage.readInto(this.cur!.buffer, this.filled, n, this.pos);
      this.filled += n;
      this.pos += n;
    }
  }

  /** Append `data` at `pos`, sending each part as it fills. */
  private async feed(data: Uint8Array): Promise<void> {
    for (let at = 0; at < data.length; ) {
      await this.ensureBuffer();
      const n = Math.min(data.length - at, this.cur!.buffer.length - this.filled);
      this.cur!.buffer.set(data.subarray(at, at + n), this.filled);
      this.filled += n;
      this.pos += n;
      at += n;
    }
  }

  /** Stream the pending pieces that now continue the file. */
  private async drainPending(): Promise<void> {
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
        }
      } finally {
        this.pending.done(p);
      }
    }
  }

  /** A buffer with room: the current one, or (the current one full) a new one once it is sent. */
  private async ensureBuffer(): Promise<void> {
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
  }

  /** Send the current buffer as the next part (starting the upload first if needed). */
  private async flush(): Promise<void> {
    const cur = this.cur!;
    this.cur = undefined;
    try {
      await this.start();
    } catch (err) {
      cur.release();
      throw err;
    }
    this.pump.send(this.partNumber++, cur.buffer.subarray(0, this.filled), () => this.buffers.recycle(cur));
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
    const { contentType, metadata } = this.objectAttrs();
    try {
      // An exclusive create whose answer was lost is told from another writer's (exclusive-put.ts).
      const res = await this.s3.send('PutObject', this.key, () =>
        putObject(
          this.s3.client,
          {
            Bucket: this.s3.bucket,
            Key: this.key,
            ...this.s3.params.create,
            ContentType: contentType,
            Metadata: { ...metadata, [SHA256_META]: createHash('sha256').update(body).digest('hex') },
            Body: body,
            ContentLength: body.length,
            IfNoneMatch: exclusive ? '*' : undefined,
          },
          { signal: this.aborter.signal },
        ),
      );
      return res.ETag;
    } catch (err) {
      throw exclusive ? exclusiveLost(err, this.path) : err;
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

  /**
   * Attributes changed after the multipart upload began (S3 fixed them at its creation): one
   * server-side copy of the object onto itself with the new ones.
   */
  private async rewriteAttributes(): Promise<string | undefined> {
    const head = await this.s3.headFile(this.path);
    const { contentType, metadata } = this.objectAttrs();
    const res = await this.s3.send('CopyObject', this.key, () =>
      copyObject(
        this.s3.client,
        {
          bucket: this.s3.bucket,
          key: this.key,
          size: head.ContentLength ?? 0,
          head: { ...head, ContentType: contentType },
        },
        { bucket: this.s3.bucket, key: this.key },
        {
          multipartThreshold: this.s3.conn.multipartCopyThreshold,
          partSize: this.s3.conn.multipartCopyPartSize,
          concurrency: this.s3.conn.concurrency,
          objectParams: this.s3.params,
          metadata,
        },
      ),
    );
    return res.etag;
  }
}
