import type { Readable } from 'node:stream';
import { type CompletedPart, GetObjectCommand, type HeadObjectCommandOutput } from '@aws-sdk/client-s3';
import { SHA256_META } from '../../s3/checksum.js';
import { copyObject } from '../../s3/copy.js';
import type { MultipartSession } from '../../s3/multipart-session.js';
import { MAX_PART_SIZE } from '../../s3/upload.js';
import type { OpenWriteOptions, WriteAttributes } from '../handles.js';
import type { StoragePath } from '../types.js';
import { MTIME_META } from './keys.js';
import type { S3Storage } from './s3-storage.js';

const MiB = 1024 * 1024;

/**
 * The first `keep` bytes (≥ 5 MiB) of the object at `key`, copied server-side into `session` as
 * parts numbered from `first` (append/resume: write-handle.ts `keepExisting`): parts of ≤ 1 GiB
 * (each ≥ 5 MiB), pinned to the version seen at open (`etag`).
 */
export async function copyKeptParts(
  s3: S3Storage,
  session: MultipartSession,
  path: StoragePath,
  key: string,
  keep: number,
  etag: string | undefined,
  first: number,
): Promise<CompletedPart[]> {
  const parts: CompletedPart[] = [];
  const n = Math.ceil(keep / Math.min(MAX_PART_SIZE, 1024 * MiB));
  const step = Math.ceil(keep / n);
  for (let from = 0; from < keep; from += step) {
    const to = Math.min(keep, from + step) - 1;
    const copy = (ifMatch: string | undefined) =>
      session.copyPart(first + parts.length, {
        bucket: s3.bucket,
        key,
        from,
        to,
        ifMatch,
        copySourceParams: s3.params.copySource as Record<string, string | undefined>,
      });
    const part = await s3.send('UploadPartCopy', key, async () => {
      try {
        return await copy(etag);
      } catch (err) {
        // Swift's s3api answers 412 to a correct If-Match on a multipart source's `"…-N"`
        // ETag (src/s3/part-copy.ts): if a HEAD shows the same ETag, copy without the
        // condition; a different one is a real change (the 412 stands: Conflict).
        if ((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode !== 412) throw err;
        if ((await s3.head(path))?.ETag !== etag) throw err;
        return copy(undefined);
      }
    });
    parts.push(part);
  }
  return parts;
}

/**
 * Attributes changed after a multipart upload began (S3 fixed them at its creation): one
 * server-side copy of the object at `key` onto itself with the new ones; its new ETag.
 */
export async function rewriteAttributes(
  s3: S3Storage,
  path: StoragePath,
  key: string,
  attrs: { contentType: string; metadata: Record<string, string> },
): Promise<string | undefined> {
  const head = await s3.headFile(path);
  const res = await s3.send('CopyObject', key, () =>
    copyObject(
      s3.client,
      {
        bucket: s3.bucket,
        key,
        size: head.ContentLength ?? 0,
        head: { ...head, ContentType: attrs.contentType },
      },
      { bucket: s3.bucket, key },
      {
        multipartThreshold: s3.conn.multipartCopyThreshold,
        partSize: s3.conn.multipartCopyPartSize,
        concurrency: s3.conn.concurrency,
        objectParams: s3.params,
        metadata: attrs.metadata,
      },
    ),
  );
  return res.etag;
}

/**
 * The attributes a write that keeps the existing object's bytes (append, resume) or attributes
 * (update) starts from: the object's, unless the caller gives others.
 */
export function keptAttributes(
  existing: HeadObjectCommandOutput,
  options: OpenWriteOptions,
): WriteAttributes {
  // Appending keeps what the file was unless the caller says otherwise.
  const { [SHA256_META]: _, ...metadata } = existing.Metadata ?? {};
  // Changed bytes: the old mtime no longer describes them (a new one may be given).
  if (options.mode === 'update') delete metadata[MTIME_META];
  return {
    contentType: options.contentType ?? existing.ContentType,
    metadata: options.metadata ?? metadata,
    mtime: options.mtime,
  };
}

/**
 * The first `keep` bytes (< 5 MiB) of the object at `key`, pinned to the version seen at open
 * (`etag`), read into the start of `buffer` (append/resume of a small file: write-handle.ts
 * `keepExisting`); the number of bytes read (fewer than `keep`: the object changed).
 */
export async function readKeptBytes(
  s3: S3Storage,
  key: string,
  keep: number,
  etag: string | undefined,
  buffer: Buffer,
  signal: AbortSignal,
): Promise<number> {
  const res = await s3.send('GetObject', key, () =>
    s3.client.send(
      new GetObjectCommand({
        Bucket: s3.bucket,
        Key: key,
        Range: `bytes=0-${keep - 1}`,
        IfMatch: etag,
        ...s3.params.read,
      }),
      { abortSignal: signal },
    ),
  );
  let filled = 0;
  for await (const chunk of res.Body as Readable) {
    const c = chunk as Buffer;
    c.copy(buffer, filled);
    filled += c.length;
  }
  return filled;
}
