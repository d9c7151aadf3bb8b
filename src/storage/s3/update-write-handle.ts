import type { Readable } from 'node:stream';
import { GetObjectCommand, type HeadObjectCommandOutput } from '@aws-sdk/client-s3';
import { StorageError } from '../errors.js';
import type { OpenWriteOptions } from '../handles.js';
import type { Entry, StoragePath } from '../types.js';
import { headEntry } from './entries.js';
import { fetchExisting } from './existing-range.js';
import type { S3Storage } from './s3-storage.js';
import { StageFile } from './stage-file.js';
import { S3WriteHandle } from './write-handle.js';

const MiB = 1024 * 1024;

/**
 * An S3 write handle in `update` mode (read+write of an existing file, as SFTP and SCP open it):
 * the streaming of S3WriteHandle, plus the phases below that decide, at the first call, whether
 * the caller's bytes can stream as parts or the file must be staged locally.
 */
export class S3UpdateWriteHandle extends S3WriteHandle {
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
  private phase: 'undecided' | 'stream' | 'overwrite' | 'staged' = 'undecided';
  /** Size of the existing object (0 when none). */
  private readonly existingSize: number;
  /** Existing bytes still part of the file (a truncate below the old end cuts them). */
  private keptEnd: number;
  /** The size the last truncate set (later writes may grow past it). */
  private minSize = 0;
  private stage: StageFile | undefined;
  /** The attributes at open, to tell a close with nothing changed (no request then). */
  private readonly openedWith: string;

  constructor(
    s3: S3Storage,
    path: StoragePath,
    options: OpenWriteOptions,
    existing: HeadObjectCommandOutput | undefined,
  ) {
    super(s3, path, options, 0, existing);
    this.existingSize = existing?.ContentLength ?? 0;
    this.keptEnd = this.existingSize;
    this.openedWith = JSON.stringify(this.attrs);
  }

  protected override async doWrite(offset: number, bytes: Uint8Array): Promise<void> {
    if (this.phase === 'undecided') {
      if (offset >= this.existingSize) await this.beginStream();
      else if (offset === 0) this.phase = 'overwrite';
      else await this.toStaged(offset);
    } else if (this.phase === 'overwrite' && offset < this.pos - this.filled) {
      await this.toStaged(offset);
    } else if (this.phase === 'stream' && (offset < this.existingSize || offset < this.pos - this.filled)) {
      await this.toStaged(offset);
    }
    if (this.phase === 'staged') return this.stage!.write(offset, bytes);
    return super.doWrite(offset, bytes);
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
      this.rewound(this.filled);
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

  protected override async doClose(): Promise<Entry> {
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
    const entry = await super.doClose();
    await this.stage?.close();
    this.stage = undefined;
    return entry;
  }

  /** Staged: none (the stage has every byte); else the last truncate's size, in 'overwrite' the kept end. */
  protected override endAtClose(): number {
    if (this.phase === 'staged') return 0;
    return Math.max(this.minSize, this.phase === 'overwrite' ? this.keptEnd : 0);
  }

  protected override async doAbort(): Promise<void> {
    await super.doAbort();
    await this.stage?.close();
    this.stage = undefined;
  }

  /** In 'overwrite', the gaps below `keptEnd` are the existing bytes (fetched now, only these). */
  protected override async fillTo(to: number): Promise<void> {
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
    await super.fillTo(to);
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
}
