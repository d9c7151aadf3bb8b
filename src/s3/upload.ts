import { createHash } from 'node:crypto';
import {
  AbortMultipartUploadCommand,
  type CompletedPart,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  type CreateMultipartUploadCommandInput,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { type BufferBudget, processBudget } from './buffer-budget.js';
import { checksumMismatch, SHA256_META } from './checksum.js';

const MiB = 1024 * 1024;
/** S3's limits: at most 10,000 parts of 5 MiB to 5 GiB each (the last may be smaller). */
export const MAX_PARTS = 10_000;
export const MIN_PART_SIZE = 5 * MiB;
export const MAX_PART_SIZE = 5 * 1024 * MiB;

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
}

/**
 * Defaults measured on Ceph RGW here (bench/transfer.sh): 16 MiB × 6 kept the link busy;
 * smaller parts cost more request overhead, more parts in flight only cost memory.
 */
export const defaultUploadTuning: UploadTuning = {
  threshold: 16 * MiB,
  partSize: 16 * MiB,
  concurrency: 6,
  partAttempts: 3,
};

/** Object attributes for the new object (everything of PutObject but the body). */
export type ObjectParams = Omit<CreateMultipartUploadCommandInput, 'Bucket' | 'Key'>;

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
  body: AsyncIterable<Uint8Array> | PositionalSource;
  /** Total size when known: sizes the parts up front. */
  size?: number;
  params?: ObjectParams;
  /** Sent on every UploadPart (SSE-C needs its key on each part). */
  partParams?: { SSECustomerAlgorithm?: string; SSECustomerKey?: string; SSECustomerKeyMD5?: string };
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
  /** Called once the multipart upload exists (to record it for a later resume). */
  onStarted?: (uploadId: string, partSize: number) => void | Promise<void>;
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
  const abortOpts = { abortSignal: signal };
  const base = req.resume?.partSize ?? tuning.partSize;
  const declared = req.params?.Metadata?.[SHA256_META];
  // Multipart bodies are hashed as they stream only when someone needs the hash.
  const hash = req.checksum || declared !== undefined ? createHash('sha256') : undefined;
  let uploadId: string | undefined = req.resume?.uploadId;
  const parts: CompletedPart[] = [];
  const inFlight = new Set<Promise<void>>();
  let failure: unknown;
  let total = 0;
  let sent = 0;
  let reused = 0;
  let partNumber = 1;

  // Part buffers whose upload finished, reused for later parts of this upload: far less garbage
  // (and GC time) than a fresh 16 MiB buffer per part. Never more than `concurrency` exist.
  const spare: Buffer[] = [];
  // The buffer being filled and its reservation.
  let buffer!: Buffer;
  let capacity = 0;
  let release: () => void = () => {};
  let filled = 0;
  const nextBuffer = async () => {
    while (inFlight.size >= Math.max(1, tuning.concurrency - 1) && failure === undefined)
      await Promise.race(inFlight);
    if (failure !== undefined) throw failure;
    // What this part may grow to. Reserved whole, up front: a transfer never waits for more
    // budget while holding some (no hold-and-wait, so transfers sharing the budget can't
    // deadlock). The first part of a body of unknown size may reach the threshold or the part
    // size, whichever is larger; its buffer starts small and grows within that reservation.
    capacity =
      partNumber === 1 && req.size === undefined
        ? Math.max(partSizeFor(1, base), tuning.threshold)
        : partNumber === 1 && req.size !== undefined && req.size < tuning.threshold
          ? Math.max(req.size, 1)
          : partSizeFor(partNumber, base, req.size);
    release = await budget.reserve(capacity, signal);
    const size = req.size === undefined && partNumber === 1 ? Math.min(capacity, 256 * 1024) : capacity;
    const i = spare.findIndex((b) => b.length === size);
    if (i < 0) spare.length = 0; // the part size changed: the old buffers are of no more use
    buffer = i >= 0 ? spare.splice(i, 1)[0]! : Buffer.allocUnsafe(size);
    filled = 0;
  };

  const sendPart = (n: number, body: Buffer, done: () => void) => {
    const p = (async () => {
      try {
        for (let attempt = 1; ; attempt++) {
          try {
            const res = await client.send(
              new UploadPartCommand({
                Bucket: bucket,
                Key: key,
                UploadId: uploadId,
                PartNumber: n,
                Body: body,
                ContentLength: body.length,
                ...req.partParams,
              }),
              abortOpts,
            );
            parts.push({ PartNumber: n, ETag: res.ETag });
            sent += body.length;
            return;
          } catch (err) {
            if (attempt >= tuning.partAttempts || signal?.aborted || !isRetryable(err)) throw err;
            await new Promise((r) => setTimeout(r, 200 * 2 ** attempt));
          }
        }
      } finally {
        done();
      }
    })().then(
      () => void inFlight.delete(p),
      (err) => {
        inFlight.delete(p);
        failure ??= err;
      },
    );
    inFlight.add(p);
  };

  const flushPart = async () => {
    if (uploadId === undefined) {
      const res = await client.send(
        new CreateMultipartUploadCommand({ Bucket: bucket, Key: key, ...req.params }),
        abortOpts,
      );
      uploadId = res.UploadId!;
      await req.onStarted?.(uploadId, base);
    }
    const body = buffer.subarray(0, filled);
    const kept = req.resume?.parts.get(partNumber);
    const done = release;
    release = () => {}; // the part's reservation now belongs to its send (or is given back)
    if (kept && kept.size === filled && sameMd5(kept.etag, body)) {
      parts.push({ PartNumber: partNumber, ETag: kept.etag });
      reused += filled;
      done();
    } else {
      const whole = buffer;
      sendPart(partNumber, body, () => {
        done();
        spare.push(whole);
      });
    }
    partNumber++;
  };

  try {
    await nextBuffer();
    // The buffer is full: send it as a part, or (still below the threshold) make it bigger.
    const makeRoom = async () => {
      if (buffer.length < capacity) {
        // Grow within the reservation (first part of a body of unknown size).
        const next = Buffer.allocUnsafe(Math.min(capacity, buffer.length * 4));
        buffer.copy(next, 0, 0, filled);
        buffer = next;
        return;
      }
      if (total >= tuning.threshold || uploadId !== undefined) {
        await flushPart();
        await nextBuffer();
        return;
      }
      // The body is longer than its declared size and still below the threshold: keep it whole.
      // The extra is taken without waiting (a waiting holder could deadlock the budget); it is
      // bounded by the threshold.
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
    };
    const body = req.body;
    if (isPositional(body)) {
      // A file: read straight into the part buffers (no chunk garbage, no copy).
      for (;;) {
        signal?.throwIfAborted();
        if (failure !== undefined) throw failure;
        if (filled === buffer.length) await makeRoom();
        const n = await body.read(buffer, filled, buffer.length - filled, total);
        if (n === 0) break;
        hash?.update(buffer.subarray(filled, filled + n));
        filled += n;
        total += n;
      }
    } else {
      for await (const chunk of body) {
        signal?.throwIfAborted();
        if (failure !== undefined) throw failure;
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

    if (uploadId === undefined && total < tuning.threshold) {
      const body = buffer.subarray(0, filled);
      const sha256 = createHash('sha256').update(body).digest('hex');
      if (declared !== undefined && declared !== sha256) throw checksumMismatch(key, declared, sha256);
      try {
        const res = await client.send(
          new PutObjectCommand({
            Bucket: bucket,
            Key: key,
            ...req.params,
            Metadata: { ...req.params?.Metadata, [SHA256_META]: sha256 },
            Body: body,
            ContentLength: filled,
          }),
          abortOpts,
        );
        sent = filled;
        return { size: total, etag: res.ETag, parts: 0, sha256, sentBytes: sent };
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
    while (inFlight.size > 0) await Promise.race(inFlight);
    if (failure !== undefined) throw failure;
    parts.sort((a, b) => a.PartNumber! - b.PartNumber!);
    const done = await client.send(
      new CompleteMultipartUploadCommand({
        Bucket: bucket,
        Key: key,
        UploadId: uploadId,
        MultipartUpload: { Parts: parts },
      }),
      abortOpts,
    );
    return { size: total, etag: done.ETag || undefined, parts: parts.length, sha256, sentBytes: sent };
  } catch (err) {
    failure ??= err;
    release();
    await Promise.allSettled(inFlight);
    if (uploadId !== undefined) {
      if (signal?.aborted && req.onKept) req.onKept(uploadId, sent + reused);
      else await abortUpload(client, bucket, key, uploadId);
    }
    throw failure;
  }
}

/** Abort a multipart upload, ignoring failure (the caller is already handling an error). */
export async function abortUpload(client: S3Client, bucket: string, key: string, uploadId: string) {
  await client
    .send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId }))
    .catch(() => {});
}

/** True when `etag` is the MD5 of `body` (so a part can be reused without sending it again). */
function sameMd5(etag: string, body: Buffer): boolean {
  return etag.replace(/"/g, '').toLowerCase() === createHash('md5').update(body).digest('hex');
}

function isRetryable(err: unknown): boolean {
  const e = err as {
    $retryable?: unknown;
    $metadata?: { httpStatusCode?: number };
    code?: string;
    name?: string;
  };
  if (e.name === 'AbortError') return false;
  const status = e.$metadata?.httpStatusCode;
  return Boolean(e.$retryable) || (status !== undefined && status >= 500) || typeof e.code === 'string';
}
