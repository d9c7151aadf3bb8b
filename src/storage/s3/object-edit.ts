import type { HeadObjectCommandOutput } from '@aws-sdk/client-s3';
import { copyObject } from '../../s3/copy.js';
import { notFound, StorageError } from '../errors.js';
import type { AttributeChanges, FileAttributes, StoragePath } from '../types.js';
import { formatMtime, isDirMarkerHead, MTIME_META, parseMtime } from './keys.js';
import type { S3Storage } from './s3-storage.js';

/** S3 keeps at most 2 KB of user metadata (names + values) per object. */
const METADATA_LIMIT = 2048;
/** Metadata names travel as HTTP header names (`x-amz-meta-NAME`). */
const METADATA_NAME = /^[a-z0-9!#$%&'*+.^_`|~-]+$/;

/** A file's attributes from its HEAD. */
export function attributesOf(head: HeadObjectCommandOutput): FileAttributes {
  const sse = head.ServerSideEncryption;
  return {
    contentType: head.ContentType,
    cacheControl: head.CacheControl,
    contentDisposition: head.ContentDisposition,
    contentEncoding: head.ContentEncoding,
    contentLanguage: head.ContentLanguage,
    expires: head.ExpiresString ?? head.Expires?.toUTCString(),
    // AWS omits the class of STANDARD objects.
    storageClass: head.StorageClass ?? 'STANDARD',
    encryption: head.SSECustomerAlgorithm
      ? 'SSE-C'
      : sse?.startsWith('aws:kms')
        ? `${sse}${head.SSEKMSKeyId ? ` (${head.SSEKMSKeyId})` : ''}`
        : sse,
    metadata: { ...head.Metadata },
    restore: parseRestore(head.Restore),
  };
}

/** `ongoing-request="false", expiry-date="Fri, 21 Dec 2012 00:00:00 GMT"` → its parts. */
export function parseRestore(header: string | undefined): FileAttributes['restore'] {
  if (!header) return undefined;
  const ongoing = /ongoing-request="true"/i.test(header);
  const expiry = /expiry-date="([^"]+)"/i.exec(header)?.[1];
  return { ongoing, expires: expiry ? new Date(expiry) : undefined };
}

/**
 * Change headers, metadata or storage class of the file at `path` in place: HEAD, then one exact
 * server-side copy onto the same key (copy.ts: class, encryption, headers and metadata kept but for
 * what changes; UploadPartCopy from the multipart-copy threshold on, aborted on failure). On a
 * versioned bucket this makes a new version, as any edit does.
 */
export async function updateAttributes(
  s3: S3Storage,
  path: StoragePath,
  changes: AttributeChanges,
): Promise<FileAttributes> {
  const head = await s3.headFile(path);
  const metadata: Record<string, string> = { ...head.Metadata };
  for (const [name, value] of Object.entries(changes.metadata ?? {})) {
    const n = name.toLowerCase();
    if (!METADATA_NAME.test(n))
      throw new StorageError('InvalidArgument', `metadata name "${name}" is not a valid HTTP header name`);
    if (value === null) delete metadata[n];
    else metadata[n] = value;
  }
  const size = Object.entries(metadata).reduce(
    (t, [k, v]) => t + Buffer.byteLength(k) + Buffer.byteLength(v),
    0,
  );
  if (size > METADATA_LIMIT)
    throw new StorageError(
      'InvalidArgument',
      `user metadata would take ${size} bytes; S3 keeps at most ${METADATA_LIMIT}`,
    );
  const edited: HeadObjectCommandOutput = { ...head };
  if (changes.contentType !== undefined) edited.ContentType = changes.contentType;
  if (changes.cacheControl !== undefined) edited.CacheControl = changes.cacheControl ?? undefined;
  if (changes.contentDisposition !== undefined)
    edited.ContentDisposition = changes.contentDisposition ?? undefined;
  if (changes.storageClass !== undefined)
    edited.StorageClass = changes.storageClass as HeadObjectCommandOutput['StorageClass'];
  const key = s3.keys.file(path);
  try {
    await s3.send('CopyObject', key, () =>
      copyObject(
        s3.client,
        { bucket: s3.bucket, key, size: head.ContentLength ?? 0, head: edited },
        { bucket: s3.bucket, key },
        { ...s3.copySettings(), exact: true, metadata },
      ),
    );
  } catch (err) {
    // S3 answers InvalidStorageClass; RGW a bare InvalidArgument for a class it has no placement for.
    if (changes.storageClass !== undefined && StorageError.is(err, 'InvalidArgument', 'Transient'))
      throw new StorageError(
        'InvalidArgument',
        `the store refused storage class ${changes.storageClass} for /${path} (it offers no such class, or none for this bucket's placement): ${(err as Error).message}`,
        { path, cause: err },
      );
    throw err;
  }
  const after = await s3.headFile(path);
  // The metadata may carry a new (or no) mtime: the index follows it.
  await s3.noteMtime(key, after.ETag, parseMtime(after.Metadata?.[MTIME_META]));
  return attributesOf(after);
}

/**
 * A file's or a folder marker's client mtime, set in place by one exact server-side copy (a
 * folder without a marker has nowhere to keep it: no error).
 */
export async function setModTime(s3: S3Storage, path: StoragePath, mtime: Date): Promise<void> {
  const head = await s3.head(path);
  if (!head) {
    if ((await s3.firstKeyUnder(path)) !== undefined) return;
    throw notFound(path);
  }
  const key = s3.keys.file(path);
  const res = await s3.send('CopyObject', key, () =>
    copyObject(
      s3.client,
      { bucket: s3.bucket, key, size: head.ContentLength ?? 0, head },
      { bucket: s3.bucket, key },
      {
        ...s3.copySettings(),
        exact: true,
        metadata: { ...head.Metadata, [MTIME_META]: formatMtime(mtime) },
      },
    ),
  );
  if (!isDirMarkerHead(head.ContentLength, head.ContentType)) await s3.noteMtime(key, res.etag, mtime);
}
