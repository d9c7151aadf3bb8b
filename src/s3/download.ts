import { createHash } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { pipeline, Readable } from 'node:stream';
import { GetObjectCommand, type GetObjectCommandOutput, type S3Client } from '@aws-sdk/client-s3';
import { type BufferBudget, processBudget } from './buffer-budget.js';
import { checksumMismatch, SHA256_META, Sha256Stream } from './checksum.js';
import { closeConnectionAfter } from './connection-close.js';
import { translateS3Error } from './errors.js';
import { firstOf, rangeError, readRange, streamRange, totalOf } from './range-read.js';
import { getRangeInto } from './raw-get.js';
import { getSmallObject } from './small-object.js';
import { defaultDownloadTuning } from './tuning.js';

export { closeConnectionAfter } from './connection-close.js';

const MiB = 1024 * 1024;
/** Largest chunk `downloadObject` hands on from a buffered part (a fresh copy). */
const STREAM_CHUNK = MiB;

export interface DownloadTuning {
  /** Bytes per ranged GET. The first range is streamed; later ones are fetched in parallel. */
  partSize: number;
  /** Ranged GETs in flight (and part buffers held) at once for one download. */
  concurrency: number;
  /** Tries per part (the SDK retries inside each try too; a body cut short counts as a try). */
  partAttempts: number;
  /**
   * Send the first GET with `Connection: close`. On Ceph RGW a small GET on a reused keep-alive
   * connection waits ~40 ms (Nagle on the server against delayed ACK on the client) while a fresh
   * connection answers in ~3 ms; many-small-file downloads are dominated by it. Later (large)
   * ranged GETs keep their connections. Off by default; S3Storage turns it on for plain-HTTP
   * custom endpoints (see connection.ts `freshConnectionGets`).
   */
  closeFirstConnection?: boolean;
}

/** Defaults (tuning.ts, where they are kept apart from the SDK). */
export { defaultDownloadTuning };

export interface DownloadRequest {
  bucket: string;
  key: string;
  /** First byte (default 0). */
  offset?: number;
  /** Bytes from `offset` (default: to the end). */
  length?: number;
  /** SSE-C parameters, needed on every GET of an SSE-C object. */
  partParams?: { SSECustomerAlgorithm?: string; SSECustomerKey?: string; SSECustomerKeyMD5?: string };
  signal?: AbortSignal;
  budget?: BufferBudget;
  /** Verify the whole object against its `ferry-sha256` metadata when it has one (default true). */
  verify?: boolean;
}

export interface Download {
  /** The bytes, in order. Errors (a part failing all tries, a checksum mismatch) surface here. */
  body: Readable;
  /** Size of the whole object. */
  objectSize: number;
  etag?: string;
  /** The first GET's response (metadata, content type …). */
  first: GetObjectCommandOutput;
}

/** The 416 answer to a range starting at or past the end (including any range of an empty object). */
export function isRangeNotSatisfiable(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e.name === 'InvalidRange' || e.$metadata?.httpStatusCode === 416;
}

/**
 * Download an object (or a byte range of it) as one ordered stream. The first GET asks for the
 * first part's range and its body is streamed straight through; its Content-Range tells the
 * object size, and when more remains, the following ranges are fetched `concurrency` at a time
 * into buffers reserved from the byte budget, handed on in order as the reader asks for them.
 * When the budget has nothing to spare, the next range is streamed straight through instead
 * (slower, but never waiting for budget while holding some).
 * Later GETs carry If-Match with the first ETag, so an object replaced mid-download fails the
 * download rather than mixing two versions. A whole-object read of an object with `ferry-sha256`
 * metadata is hashed as it streams and fails at the end on a mismatch.
 *
 * Throws the SDK's error for the first GET (NoSuchKey, a 416 for a range past the end …) so the
 * caller translates it with its own context.
 */
export async function downloadObject(
  client: S3Client,
  req: DownloadRequest,
  tuning: DownloadTuning = defaultDownloadTuning,
): Promise<Download> {
  const { bucket, key } = req;
  const budget = req.budget ?? processBudget;
  const start = req.offset ?? 0;
  const wanted = req.length;
  const firstEnd = start + Math.min(tuning.partSize, wanted ?? Number.POSITIVE_INFINITY) - 1;
  const firstCommand = new GetObjectCommand({
    Bucket: bucket,
    Key: key,
    Range: `bytes=${start}-${firstEnd}`,
    ...req.partParams,
  });
  // The lean path (small-object.ts) where the connection allows; the SDK otherwise, and for any
  // answer but a 2xx (its errors are what callers translate).
  const lean = await getSmallObject(client, firstCommand.input, {
    signal: req.signal,
    close: tuning.closeFirstConnection,
  });
  if (!lean && tuning.closeFirstConnection) closeConnectionAfter(firstCommand);
  const first =
    (lean as unknown as GetObjectCommandOutput | undefined) ??
    (await client.send(firstCommand, { abortSignal: req.signal }));
  const objectSize = totalOf(first.ContentRange) ?? start + (first.ContentLength ?? 0);
  const end = Math.min(objectSize, wanted === undefined ? objectSize : start + wanted);
  const firstBody = first.Body as Readable;
  const firstFrom = firstOf(first.ContentRange) ?? start;
  if (firstFrom !== start) {
    firstBody.destroy();
    throw rangeError(`ranged GET for bytes ${start}- answered from byte ${firstFrom}`);
  }
  const expected =
    req.verify !== false && start === 0 && end === objectSize ? first.Metadata?.[SHA256_META] : undefined;
  const rest = firstEnd + 1 < end;
  const where = { operation: 'GetObject', bucket, key };

  const controller = new AbortController();
  const signal = req.signal ? AbortSignal.any([req.signal, controller.signal]) : controller.signal;
  setMaxListeners(0, signal); // one listener per GET in flight; many is expected, not a leak
  const getRange = (from: number, to: number) =>
    client.send(
      new GetObjectCommand({
        Bucket: bucket,
        Key: key,
        Range: `bytes=${from}-${to}`,
        IfMatch: first.ETag,
        ...req.partParams,
      }),
      { abortSignal: signal },
    );
  const raw = (from: number, into: Buffer) =>
    getRangeInto(
      client,
      { Bucket: bucket, Key: key, IfMatch: first.ETag, ...req.partParams },
      from,
      into,
      signal,
    );
  const streamed = (body: Readable | undefined, from: number, to: number) =>
    streamRange(body, from, to, getRange, tuning.partAttempts, signal);

  if (!rest) {
    // One GET was enough (every small file): stream it (checked for length, the rest fetched
    // again if it ends early), through a hash check when there is one.
    async function* one(): AsyncGenerator<Buffer> {
      try {
        yield* streamed(firstBody, start, end - 1);
      } catch (err) {
        throw translateS3Error(err, where);
      } finally {
        firstBody.destroy();
      }
    }
    const raw = Readable.from(one(), { objectMode: false, highWaterMark: 64 * 1024 });
    const body =
      expected === undefined
        ? raw
        : pipeline(raw, new Sha256Stream(expected, `s3://${bucket}/${key}`), () => {});
    return { body, objectSize, etag: first.ETag, first };
  }

  const ranges: [number, number][] = [];
  for (let from = firstEnd + 1; from < end; from += tuning.partSize) {
    ranges.push([from, Math.min(end, from + tuning.partSize) - 1]);
  }

  // Part buffers are reused within the download and never handed on: the reader gets fresh
  // copies of at most STREAM_CHUNK bytes, which die young. Handing on views of fresh 16 MiB part
  // buffers instead kept each one alive (and into the old generation) until its last view was
  // gone, which cost full garbage collections (docs/notes/issue-4.md).
  const pool: Buffer[] = [];
  type Part = { data: Buffer; buffer: Buffer; release: () => void };
  const fetchRange = async ([from, to]: [number, number], release: () => void): Promise<Part> => {
    const buffer = pool.pop() ?? Buffer.allocUnsafe(tuning.partSize);
    try {
      const data = await readRange(getRange, from, to, tuning.partAttempts, signal, undefined, buffer, raw);
      return { data, buffer, release };
    } catch (err) {
      pool.push(buffer);
      release();
      throw err;
    }
  };

  async function* chunks(): AsyncGenerator<Buffer> {
    const hash = expected === undefined ? undefined : createHash('sha256');
    const queue: Promise<Part>[] = [];
    let next = 0;
    // Prefetch only with budget to spare: a download never waits for budget while holding
    // parts (which could deadlock against uploads waiting for budget to take those parts in).
    const fill = () => {
      while (queue.length < Math.max(1, tuning.concurrency) && next < ranges.length) {
        const [from, to] = ranges[next]!;
        const release = budget.tryReserve(to - from + 1);
        if (!release) return;
        next++;
        const p = fetchRange([from, to], release);
        p.catch(() => {}); // awaited in order below; don't let a later part's failure go unhandled
        queue.push(p);
      }
    };
    try {
      fill();
      try {
        for await (const chunk of streamed(firstBody, start, firstEnd)) {
          hash?.update(chunk);
          yield chunk;
        }
      } catch (err) {
        throw translateS3Error(err, where);
      }
      while (queue.length > 0 || next < ranges.length) {
        if (queue.length === 0) {
          // No budget to spare: stream the next range straight through, like a single GET.
          const [from, to] = ranges[next++]!;
          try {
            for await (const chunk of streamed(undefined, from, to)) {
              hash?.update(chunk);
              yield chunk;
            }
          } catch (err) {
            throw translateS3Error(err, where);
          }
          fill();
          continue;
        }
        let part: Part;
        try {
          part = await queue.shift()!;
        } catch (err) {
          throw translateS3Error(err, where);
        }
        const { data, buffer, release } = part;
        try {
          for (let at = 0; at < data.length; at += STREAM_CHUNK) {
            const chunk = Buffer.from(data.subarray(at, at + STREAM_CHUNK));
            hash?.update(chunk);
            yield chunk;
          }
        } finally {
          pool.push(buffer);
          release();
        }
        fill(); // only now: the part just handed on still counted against `concurrency`
      }
      if (hash) {
        const actual = hash.digest('hex');
        if (actual !== expected) throw checksumMismatch(`s3://${bucket}/${key}`, expected!, actual);
      }
    } finally {
      // Reader gone or something failed: stop the other GETs and give their buffers back.
      controller.abort();
      firstBody.destroy();
      for (const p of queue)
        p.then(
          (r) => r.release(),
          () => {},
        );
    }
  }

  // Byte mode with a small high-water mark: a part is pulled only when the previous was read.
  const body = Readable.from(chunks(), { objectMode: false, highWaterMark: 64 * 1024 });
  return { body, objectSize, etag: first.ETag, first };
}
