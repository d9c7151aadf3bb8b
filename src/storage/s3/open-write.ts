import { MAX_OBJECT_SIZE } from '../../s3/upload.js';
import { StorageError } from '../errors.js';
import type { OpenWriteOptions, WriteHandle } from '../handles.js';
import { resumeLength } from '../memory/write-handle.js';
import type { StoragePath } from '../types.js';
import { checkAncestors } from './folders.js';
import { checkFileName, isDirMarkerHead } from './keys.js';
import { spillAfter } from './part-spill.js';
import type { S3Storage } from './s3-storage.js';
import { S3UpdateWriteHandle } from './update-write-handle.js';
import { S3WriteHandle } from './write-handle.js';

/**
 * Open an S3 write handle (see handles.ts for the contract; write-handle.ts streams, and
 * update-write-handle.ts adds the `update` mode's phases). Costs a HEAD (and a one-key LIST
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
  spillAfter(); // a bad FERRY_PART_SPILL_MS: refused before anything is opened
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
  const handle =
    mode === 'update'
      ? new S3UpdateWriteHandle(s3, path, options, head)
      : new S3WriteHandle(s3, path, options, keep, keep > 0 ? head : undefined);
  try {
    await handle.keepExisting();
  } catch (err) {
    await handle.abort();
    throw err;
  }
  return handle;
}
