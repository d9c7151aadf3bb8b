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
  /** Parts in flight at once; memory use is about partSize × (concurrency + 1). */
  concurrency: number;
  /** Tries per part before the upload fails (the SDK retries inside each try too). */
  partAttempts: number;
}

export const defaultUploadTuning: UploadTuning = {
  threshold: 16 * MiB,
  partSize: 16 * MiB,
  concurrency: 4,
  partAttempts: 3,
};

/** Object attributes for the new object (everything of PutObject but the body). */
export type ObjectParams = Omit<CreateMultipartUploadCommandInput, 'Bucket' | 'Key'>;

export interface UploadRequest {
  bucket: string;
  key: string;
  body: AsyncIterable<Uint8Array>;
  /** Total size when known: sizes the parts up front. */
  size?: number;
  params?: ObjectParams;
  /** Sent with every UploadPart: SSE-C must be repeated on each part. */
  partParams?: { SSECustomerAlgorithm?: string; SSECustomerKey?: string; SSECustomerKeyMD5?: string };
  signal?: AbortSignal;
}

export interface UploadResult {
  size: number;
  etag?: string;
  parts: number;
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
 * multipart upload with up to `concurrency` parts in flight. The body is pulled only when a part
 * slot is free, so a slow S3 slows the sender (back-pressure) and memory stays bounded. On any
 * failure — the body erroring, a part failing all its tries, the signal aborting — the multipart
 * upload is aborted and the error rethrown: no partial object and no forgotten upload remain.
 */
export async function uploadObject(
  client: S3Client,
  req: UploadRequest,
  tuning: UploadTuning = defaultUploadTuning,
): Promise<UploadResult> {
  const { bucket, key, signal } = req;
  const abortOpts = { abortSignal: signal };
  let uploadId: string | undefined;
  const parts: CompletedPart[] = [];
  const inFlight = new Set<Promise<void>>();
  let failure: unknown;
  let total = 0;
  let partNumber = 1;
  let buffer: Buffer = Buffer.allocUnsafe(firstBufferSize(req.size, tuning));
  let filled = 0;

  const sendPart = (n: number, body: Buffer) => {
    const p = (async () => {
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
          return;
        } catch (err) {
          if (attempt >= tuning.partAttempts || signal?.aborted || !isRetryable(err)) throw err;
          await new Promise((r) => setTimeout(r, 200 * 2 ** attempt));
        }
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
      uploadId = res.UploadId;
    }
    sendPart(partNumber, buffer.subarray(0, filled));
    partNumber++;
    buffer = Buffer.allocUnsafe(partSizeFor(partNumber, tuning.partSize, req.size));
    filled = 0;
    while (inFlight.size >= tuning.concurrency && failure === undefined) await Promise.race(inFlight);
    if (failure !== undefined) throw failure;
  };

  try {
    for await (const chunk of req.body) {
      signal?.throwIfAborted();
      let offset = 0;
      while (offset < chunk.length) {
        const n = Math.min(chunk.length - offset, buffer.length - filled);
        buffer.set(chunk.subarray(offset, offset + n), filled);
        filled += n;
        offset += n;
        total += n;
        if (filled === buffer.length && (uploadId !== undefined || total >= tuning.threshold))
          await flushPart();
        else if (filled === buffer.length) buffer = grow(buffer, filled, tuning.threshold);
      }
    }
    signal?.throwIfAborted();

    if (uploadId === undefined && total < tuning.threshold) {
      const res = await client.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: key,
          ...req.params,
          Body: buffer.subarray(0, filled),
          ContentLength: filled,
        }),
        abortOpts,
      );
      return { size: total, etag: res.ETag, parts: 0 };
    }
    if (filled > 0 || partNumber === 1) await flushPart();
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
    return { size: total, etag: done.ETag, parts: parts.length };
  } catch (err) {
    failure ??= err;
    await Promise.allSettled(inFlight);
    if (uploadId !== undefined) {
      await client
        .send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId }))
        .catch(() => {});
    }
    throw failure;
  }
}

/**
 * While the total is still below the threshold we don't know whether this will be a single PUT,
 * so the first buffer starts small (small files stay cheap) and grows up to the first part size.
 */
function firstBufferSize(size: number | undefined, tuning: UploadTuning): number {
  if (size !== undefined && size < tuning.threshold) return Math.max(size, 1);
  if (size !== undefined) return partSizeFor(1, tuning.partSize, size);
  return Math.min(tuning.partSize, 256 * 1024);
}

function grow(buffer: Buffer, filled: number, limit: number): Buffer {
  const next = Buffer.allocUnsafe(
    Math.max(Math.min(buffer.length * 4, Math.max(limit, buffer.length + 1)), buffer.length + 1),
  );
  buffer.copy(next, 0, 0, filled);
  return next;
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
