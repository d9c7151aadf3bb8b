import { Readable } from 'node:stream';
import { downloadObject, isRangeNotSatisfiable } from '../../s3/download.js';
import { translateS3Error } from '../../s3/errors.js';
import { bufferSource, positionalSourceOf } from '../../s3/file-source.js';
import { type UploadResult, uploadObject } from '../../s3/upload.js';
import { type SourceIdentity, UploadJournal } from '../../s3/upload-journal.js';
import { bodyToReadable, sourceCheckOf, wholeBufferOf } from '../body.js';
import { StorageError } from '../errors.js';
import { baseName } from '../paths.js';
import type { Entry, ReadOptions, StoragePath, WriteBody, WriteOptions } from '../types.js';
import { contentTypeFor } from './entries.js';
import { claimName, dropClaim, exclusiveLost, hasConditionalComplete } from './exclusive-claim.js';
import { formatMtime, isDirMarkerHead, MTIME_META } from './keys.js';
import type { S3Storage } from './s3-storage.js';

/**
 * The S3 backend's byte paths: `read` and `write` of S3Storage, glued to the transfer engine
 * (src/s3/upload.ts, download.ts). S3Storage keeps the file-system semantics; this file keeps what
 * moves bytes: tuning from the connection, resumable uploads of local files, the checks a read
 * needs to tell an empty file from an old-style folder marker.
 */

/** Write options only the S3 backend understands (others ignore them). */
export interface S3WriteOptions extends WriteOptions {
  /** The local file being uploaded: makes a multipart upload resumable after a crash. */
  resumeSource?: SourceIdentity;
  /** The upload engine's result: SHA-256 of the body, bytes actually sent, whether it resumed. */
  onUploaded?: (result: UploadResult & { resumed: boolean }) => void;
  /**
   * With `resumeSource`: the signal interrupted a multipart upload, which is kept (with its
   * journal) for the same copy to resume later, rather than aborted. `bytes`: what its parts hold.
   */
  onKept?: (kept: { uploadId: string; bytes: number }) => void;
}

/** Upload and download tuning from a connection's settings (kept in s3/tuning.ts). */
export { transferTuningFor } from '../../s3/tuning.js';

export async function readFile(
  s3: S3Storage,
  path: StoragePath,
  options: ReadOptions = {},
): Promise<Readable> {
  const key = s3.keys.file(path);
  const { offset = 0, length } = options;
  if (length === 0) return bodyToReadable(Buffer.alloc(0));
  try {
    const res = await downloadObject(
      s3.client,
      {
        bucket: s3.bucket,
        key,
        offset,
        length,
        partParams: s3.params.read,
        signal: options.signal,
        budget: s3.budget,
      },
      s3.download,
    );
    if (
      isDirMarkerHead(res.first.ContentLength, res.first.ContentType) &&
      offset === 0 &&
      length === undefined
    ) {
      res.body.destroy();
      throw new StorageError('IsADirectory', `is a folder: /${path}`, { path });
    }
    return res.body;
  } catch (err) {
    if (err instanceof StorageError) throw err;
    if (isRangeNotSatisfiable(err)) {
      // Nothing at or past `offset`. From 0 that is an empty object, which may be an old-style
      // slash-less folder marker: only then is a HEAD worth it.
      const head = offset === 0 ? await s3.head(path) : undefined;
      if (head && isDirMarkerHead(head.ContentLength, head.ContentType)) {
        throw new StorageError('IsADirectory', `is a folder: /${path}`, { path });
      }
      return bodyToReadable(Buffer.alloc(0));
    }
    const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
    if (e.name === 'NoSuchKey' || e.$metadata?.httpStatusCode === 404) {
      if ((await s3.firstKeyUnder(path)) !== undefined) {
        throw new StorageError('IsADirectory', `is a folder: /${path}`, { path });
      }
    }
    throw translateS3Error(err, { operation: 'GetObject', bucket: s3.bucket, key, path });
  }
}

/**
 * `resumeSource` makes a multipart upload of a local file resumable after a crash (see
 * upload-journal.ts); `onUploaded` receives the engine's result (SHA-256, bytes sent).
 */
export async function writeFile(
  s3: S3Storage,
  path: StoragePath,
  body: WriteBody,
  options: S3WriteOptions = {},
): Promise<Entry> {
  const key = s3.keys.file(path);
  const metadata = { ...s3.params.metadata, ...options.metadata };
  if (options.mtime) metadata[MTIME_META] = formatMtime(options.mtime);
  const source = options.resumeSource;
  const journal = source && new UploadJournal(s3.conn.endpoint ?? 'aws', s3.bucket, key);
  let kept = false;
  // Create only: a conditional PutObject, or a conditional CompleteMultipartUpload where the store
  // honours it; elsewhere (RGW) a multipart write first claims the name with a conditional
  // zero-byte PUT, which the completed object replaces (exclusive-claim.ts).
  const claimFirst =
    options.createOnly &&
    !hasConditionalComplete(s3) &&
    (options.size === undefined || options.size >= s3.upload.threshold);
  const claim = claimFirst
    ? await claimName(s3, path, options.signal ?? new AbortController().signal)
    : undefined;
  const put = s3.send('PutObject', key, async () => {
    const resume = source && (await journal!.resumePoint(s3.client, source, s3.params.payer));
    // An upload whose abort failed is still in the bucket: its journal entry stays, so the next
    // run finds it (and resumes or aborts it); `ferry uploads` lists it meanwhile.
    let abortFailed = false;
    try {
      const result = await uploadObject(
        s3.client,
        {
          bucket: s3.bucket,
          key,
          body: sourceOf(body),
          size: options.size,
          params: {
            ...s3.params.create,
            ContentType: options.contentType ?? contentTypeFor(path),
            Metadata: metadata,
          },
          partParams: s3.params.part,
          payer: s3.params.payer,
          signal: options.signal,
          budget: s3.budget,
          resume,
          ifNoneMatch: options.createOnly && claim === undefined,
          beforeCommit: sourceCheckOf(body),
          onStarted: source && ((id, partSize) => journal!.record(id, partSize, source)),
          onAbortFailed: () => {
            abortFailed = true;
          },
          onKept:
            source &&
            ((uploadId, bytes) => {
              kept = true;
              options.onKept?.({ uploadId, bytes });
            }),
        },
        s3.upload,
      );
      options.onUploaded?.({ ...result, resumed: resume !== undefined });
      return result;
    } finally {
      // Completed or aborted: either way there is nothing left to resume (unless kept for a
      // resume, or the abort failed and the journal is how the upload can still be found).
      if (!abortFailed && !kept) await journal?.forget();
      if (body instanceof Readable) body.destroy(); // read directly or not, release the file
    }
  });
  let res: Awaited<typeof put>;
  try {
    res = await put;
  } catch (err) {
    if (claim !== undefined) await dropClaim(s3, path, claim);
    throw options.createOnly ? exclusiveLost(err, path) : err;
  }
  return {
    path,
    name: baseName(path),
    type: 'file',
    size: res.size,
    mtime: options.mtime ?? new Date(),
    etag: res.etag,
    contentType: options.contentType ?? contentTypeFor(path),
    metadata,
  };
}

/**
 * What the upload engine reads `body` from: a whole file already in memory or a local file read
 * at any position straight into its part buffers (no stream in between), else the stream.
 */
function sourceOf(body: WriteBody) {
  const whole = wholeBufferOf(body);
  return whole ? bufferSource(whole) : (positionalSourceOf(body) ?? bodyToReadable(body));
}
