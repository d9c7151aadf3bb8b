import { createHash } from 'node:crypto';
import { addAbortSignal, Readable } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import { StorageError } from '../storage/errors.js';
import { type BufferBudget, processBudget } from './buffer-budget.js';
import { checksumMismatch, SHA256_META } from './checksum.js';
import { putObject } from './exclusive-put.js';
import { type CreateParams, MultipartSession, type PartParams } from './multipart-session.js';
import { type PartBuffer, PartBuffers } from './part-buffers.js';
import { PartPump } from './part-pump.js';
import { defaultUploadTuning } from './tuning.js';

export { abortUpload } from './multipart-session.js';

const MiB = 1024 * 1024;
/** S3's limits: at most 10,000 parts of 5 MiB to 5 GiB each (the last may be smaller). */
export const MAX_PARTS = 10_000;
export const MIN_PART_SIZE = 5 * MiB;
export const MAX_PART_SIZE = 5 * 1024 * MiB;
/** The largest object S3 stores (5 TiB). */
export const MAX_OBJECT_SIZE = 5 * 1024 * 1024 * MiB;

export interface UploadTuning {
  /** Bodies smaller than this go up in one PutObject. */
  threshold: number;
  /** Size of the first parts; grows for large or unknown sizes to stay within 10,000 parts. */
  partSize: number;
  /**
   * Parts held in memory at once by one upload: the one being filled plus those in flight. An
   * upload's buffers never exceed partSize × concurrency (and all uploads together never exceed
   * the process budget).
   */
  concurrency: number;
  /** Tries per part before the upload fails (the SDK retries inside each try too). */
  partAttempts: number;
  /**
   * Write handles: how far ahead of the next expected byte an out-of-order write is kept in
   * memory (from the budget); further ones spill to a temporary file. Default 32 MiB.
   */
  writeWindow?: number;
}

/** Defaults (tuning.ts, where they are kept apart from the SDK). */
export { defaultUploadTuning };

/** Object attributes for the new object (everything of PutObject but the body). */
export type ObjectParams = CreateParams;

/** Parts of an earlier, unfinished upload of the same source that may be reused. */
export interface ResumePoint {
  uploadId: string;
  /** Part size the earlier run used (the layout must be the same to reuse parts). */
  partSize: number;
  /** Part number → its ETag and size, from ListParts. */
  parts: Map<number, { etag: string; size: number }>;
}

/**
 * A source that can be read at any position straight into a buffer (a local file): the engine
 * then reads into its part buffers directly. `read` returns the bytes read, 0 at the end.
 */
export interface PositionalSource {
  read(buffer: Buffer, offset: number, length: number, position: number): Promise<number>;
}

function isPositional(body: AsyncIterable<Uint8Array> | PositionalSource): body is PositionalSource {
  return !(Symbol.asyncIterator in body) && typeof (body as PositionalSource).read === 'function';
}

export interface UploadRequest {
  bucket: string;
  key: string;
  /** A Readable is destroyed when the signal aborts (so a silent one cannot hold the upload). */
  body: AsyncIterable<Uint8Array> | PositionalSource;
  /** Total size when known: sizes the parts up front. */
  size?: number;
  params?: ObjectParams;
  /** Sent on every UploadPart (SSE-C needs its key on each part; requester pays). */
  partParams?: PartParams;
  /** Requester pays for Complete and Abort (default: what `partParams`/`params` say). */
  payer?: { RequestPayer?: 'requester' };
  signal?: AbortSignal;
  /** The byte budget the buffers come from (default: the process-wide one). */
  budget?: BufferBudget;
  /**
   * Continue this earlier upload: each part whose local bytes have the MD5 its ETag names is
   * kept, every other part is sent again. The parts are checked while streaming, so a changed
   * source never ends up mixed with old parts.
   */
  resume?: ResumePoint;
  /**
   * Compute the SHA-256 of a multipart body while streaming (`UploadResult.sha256`). Single PUTs
   * are always hashed (the hash goes into metadata), and so is a body whose hash was declared in
   * `params.Metadata`; otherwise multipart bodies are not, to spare the CPU (default false).
   */
  checksum?: boolean;
  /**
   * Create only (`If-None-Match: *` on the PutObject, or on CompleteMultipartUpload where the
   * store honours it there): a 412 fails the upload (Conflict) and nothing is replaced.
   */
  ifNoneMatch?: boolean;
  /**
   * Called after the whole body is read, before the object is committed (the single PutObject
   * sent, the multipart upload completed): a throw fails the upload and nothing is stored. A
   * local file's "not changed while it was read" check (storage/local/source-check.ts).
   */
  beforeCommit?: () => Promise<void>;
  /** Called once the multipart upload exists (to record it for a later resume). */
  onStarted?: (uploadId: string, partSize: number) => void | Promise<void>;
  /** Called when the upload failed and so did its abort: the upload is still in the bucket. */
  onAbortFailed?: (uploadId: string) => void;
  /**
   * Given by a caller that can resume the upload later (it recorded it in onStarted): when the
   * signal aborts, the multipart upload is kept rather than aborted, and this is called with the
   * bytes its parts hold. Any other failure still aborts it.
   */
  onKept?: (uploadId: string, storedBytes: number) => void;
}

export interface UploadResult {
  size: number;
  etag?: string;
  /** 0 for a single PutObject. */
  parts: number;
  /** SHA-256 (hex) of the whole body: always for a single PUT, for multipart when asked. */
  sha256?: string;
  /** Bytes sent to S3 by this call (less than `size` when parts of a resumed upload were kept). */
  sentBytes: number;
}

/**
 * Part size for part number `n` (1-based). With a known size: one size that fits 10,000 parts.
 * With an unknown size: `base` for the first 1,000 parts, then doubling every 1,000 parts, so
 * 10,000 parts reach past 5 TiB from an 8 MiB start while small streams keep small parts.
 */
export function partSizeFor(n: number, base: number, size?: number): number {
  if (size !== undefined) return Math.min(MAX_PART_SIZE, Math.max(base, Math.ceil(size / MAX_PARTS)));
  return Math.min(MAX_PART_SIZE, base * 2 ** Math.floor((n - 1) / 1000));
}

/**
 * Upload a stream to one object: a single PutObject when it ends below the threshold, otherwise a
 * multipart upload. Memory: every buffer is reserved from the budget before it is filled, and at
 * most `concurrency` buffers are held, so the body is pulled only when a buffer is free — a slow
 * S3 slows the sender (back-pressure), and when the sender ends at most `concurrency - 1` parts
 * remain to be sent. Failed parts are tried again (`partAttempts`). On any failure — the body
 * erroring, a part failing all its tries, the signal aborting — the multipart upload is aborted
 * and the error rethrown: no partial object and no forgotten upload.
 * A single PutObject stores the body's SHA-256 in metadata; a multipart upload stores it only
 * when the caller put it in `params.Metadata` up front (see docs/transfers.md).
 */
export async function uploadObject(
  client: S3Client,
  req: UploadRequest,
  tuning: UploadTuning = defaultUploadTuning,
): Promise<UploadResult> {
  const { bucket, key, signal } = req;
  const budget = req.budget ?? processBudget;
  const base = req.resume?.partSize ?? tuning.partSize;
  const declared = req.params?.Metadata?.[SHA256_META];
  // Multipart bodies are hashed as they stream only when someone needs the hash.
  const hash = req.checksum || declared !== undefined ? createHash('sha256') : undefined;
  const session = new MultipartSession(
    client,
    {
      bucket,
      key,
      params: req.params,
      partParams: req.partParams,
      payer: req.payer,
      signal,
      partAttempts: tuning.partAttempts,
    },
    req.resume?.uploadId,
  );
  const pump = new PartPump(session, tuning.concurrency);
  const buffers = new PartBuffers(budget, signal);
  let total = 0;
  let reused = 0;
  let partNumber = 1;

  // The buffer being filled and its reservation (`part.buffer` is `buffer`).
  let part!: PartBuffer;
  let buffer!: Buffer;
  let capacity = 0;
  let release: () => void = () => {};
  let filled = 0;
  const nextBuffer = async () => {
    // One buffer is being filled while the others are in flight: concurrency buffers at most.
    await pump.room(tuning.concurrency - 1);
    // What this part may grow to. The first part of a body of unknown size may reach the
    // threshold or the part size, whichever is larger; its buffer starts small and grows.
    // A small body of known size gets one byte more than it declares: a file is read until a
    // read returns nothing, and that last read needs room (with none, the buffer was grown to
    // 64 KiB and copied, for every small file, only to learn that nothing followed).
    const cap =
      partNumber === 1 && req.size === undefined
        ? Math.max(partSizeFor(1, base), tuning.threshold)
        : partNumber === 1 && req.size !== undefined && req.size < tuning.threshold
          ? req.size + 1
          : partSizeFor(partNumber, base, req.size);
    const size = req.size === undefined && partNumber === 1 ? Math.min(cap, 256 * 1024) : cap;
    part = await buffers.take(cap, size);
    ({ buffer, capacity, release } = part);
    filled = 0;
  };

  const flushPart = async () => {
    if (session.uploadId === undefined) {
      await session.create();
      await req.onStarted?.(session.uploadId!, base);
    }
    const body = buffer.subarray(0, filled);
    const kept = req.resume?.parts.get(partNumber);
    const done = release;
    release = () => {}; // the part's reservation now belongs to its send (or is given back)
    if (kept && kept.size === filled && sameMd5(kept.etag, body)) {
      pump.keep({ PartNumber: partNumber, ETag: kept.etag });
      reused += filled;
      done();
    } else {
      const sent = { buffer, capacity, release: done };
      pump.send(partNumber, body, () => buffers.recycle(sent));
    }
    partNumber++;
  };

  try {
    await nextBuffer();
    // The buffer is full: send it as a part, or (still below the threshold) make it bigger.
    const makeRoom = async () => {
      if (buffer.length < capacity) {
        // Grow within the reservation (first part of a body of unknown size).
        buffers.grow(part, filled);
        buffer = part.buffer;
        return;
      }
      if (total >= tuning.threshold || session.uploadId !== undefined) {
        await flushPart();
        await nextBuffer();
        return;
      }
      // The body is longer than its declared size and still below the threshold: keep it whole
      // (the size check below then refuses it). The extra is taken without waiting (a waiting
      // holder could deadlock the budget); it is bounded by the threshold.
      const bigger = Math.min(Math.max(buffer.length * 4, 64 * 1024), tuning.threshold);
      const more = budget.overdraw(bigger - buffer.length);
      const prev = release;
      release = () => {
        prev();
        more();
      };
      capacity = bigger;
      const next = Buffer.allocUnsafe(bigger);
      buffer.copy(next, 0, 0, filled);
      buffer = next;
      part.buffer = next; // its release gives this one back
    };
    const body = req.body;
    if (isPositional(body)) {
      // A file: read straight into the part buffers (no chunk garbage, no copy).
      for (;;) {
        signal?.throwIfAborted();
        pump.check();
        if (filled === buffer.length) await makeRoom();
        const n = await body.read(buffer, filled, buffer.length - filled, total);
        if (n === 0) break;
        hash?.update(buffer.subarray(filled, filled + n));
        filled += n;
        total += n;
      }
    } else {
      // A stream that sends nothing more (stdin left open, a client that went quiet) would hold
      // the loop below for ever: the signal destroys it, which ends the wait with an AbortError.
      if (signal && body instanceof Readable) addAbortSignal(signal, body);
      for await (const chunk of body) {
        signal?.throwIfAborted();
        pump.check();
        hash?.update(chunk);
        let offset = 0;
        while (offset < chunk.length) {
          if (filled === buffer.length) await makeRoom();
          const n = Math.min(chunk.length - offset, buffer.length - filled);
          buffer.set(chunk.subarray(offset, offset + n), filled);
          filled += n;
          offset += n;
          total += n;
        }
      }
    }
    signal?.throwIfAborted();
    // A body that ended early (or ran long) without an error — a truncated file, a stream a
    // server ended on disconnect — must not become a short object.
    if (req.size !== undefined && total !== req.size) throw sizeMismatch(key, total, req.size);

    if (session.uploadId === undefined && total < tuning.threshold) {
      const body = buffer.subarray(0, filled);
      const sha256 = createHash('sha256').update(body).digest('hex');
      if (declared !== undefined && declared !== sha256) throw checksumMismatch(key, declared, sha256);
      try {
        await req.beforeCommit?.();
        const input = {
          Bucket: bucket,
          Key: key,
          ...req.params,
          Metadata: { ...req.params?.Metadata, [SHA256_META]: sha256 },
          Body: body,
          ContentLength: filled,
          IfNoneMatch: req.ifNoneMatch ? '*' : undefined,
        };
        // The lean path (small-object.ts) where the connection allows; the SDK otherwise, and
        // for anything the lean path did not store.
        // An exclusive create whose answer was lost is told from another writer's (exclusive-put.ts).
        const res = await putObject(client, input, { sha256, signal });
        return { size: total, etag: res.ETag, parts: 0, sha256, sentBytes: filled };
      } finally {
        release();
      }
    }
    // A hash declared up front (a copy from a store that had it, or a pre-hashed local file)
    // must match what was read: otherwise the object is not completed.
    const sha256 = hash?.digest('hex');
    if (declared !== undefined && declared !== sha256) throw checksumMismatch(key, declared, sha256 ?? '');
    if (filled > 0 || partNumber === 1) await flushPart();
    else release();
    const parts = await pump.drain();
    // Every part is stored: the last moment to find the source changed, with nothing committed.
    await req.beforeCommit?.();
    const done = await session.complete(parts, req.ifNoneMatch ? { ifNoneMatch: '*' } : {});
    return { size: total, etag: done.etag, parts: parts.length, sha256, sentBytes: pump.sent };
  } catch (err) {
    const failure = pump.failure ?? err;
    release();
    await pump.settle();
    if (session.uploadId !== undefined && signal?.aborted && req.onKept) {
      req.onKept(session.uploadId, pump.sent + reused);
    } else if (!(await session.abort())) req.onAbortFailed?.(session.uploadId!);
    throw failure;
  } finally {
    buffers.dispose();
  }
}

/** The error for a body whose length is not the size declared for it (defect 8). */
export function sizeMismatch(key: string, got: number, declared: number): StorageError {
  const what = got < declared ? 'ended early' : 'ran past its declared size';
  return new StorageError(
    'InvalidArgument',
    `upload of ${key} ${what}: ${got} of ${declared} bytes; nothing was stored`,
  );
}

/** True when `etag` is the MD5 of `body` (so a part can be reused without sending it again). */
function sameMd5(etag: string, body: Buffer): boolean {
  return etag.replace(/"/g, '').toLowerCase() === createHash('md5').update(body).digest('hex');
}
