import { objectUrl, presignObjectUrl } from '../../s3/presign.js';
import { StorageError } from '../errors.js';
import type { PresignedUrl, PresignOptions, StoragePath } from '../types.js';
import { checkFileTarget } from './folders.js';
import type { S3Storage } from './s3-storage.js';

/**
 * Presigned URL of the file at `path` (src/s3/presign.ts). GET: the file must exist (a HEAD), so
 * no URL is handed out for nothing; PUT: the same file-vs-folder rule as a write (folders.ts).
 */
export async function presignFile(
  s3: S3Storage,
  path: StoragePath,
  options: PresignOptions,
): Promise<PresignedUrl> {
  if (path === '')
    throw new StorageError('IsADirectory', 'the root is a folder: a presigned URL names a file');
  if ((options.method ?? 'GET') === 'GET') await s3.headFile(path);
  else await checkFileTarget(s3, path);
  return presignObjectUrl(s3.client, s3.bucket, s3.keys.file(path), s3.params, options);
}

/** The object URL of `path`, unsigned (it answers only if the object is public). */
export async function publicFileUrl(s3: S3Storage, path: StoragePath): Promise<string> {
  if (path === '') throw new StorageError('IsADirectory', 'the root is a folder: a URL names a file');
  return objectUrl(s3.client, s3.bucket, s3.keys.file(path));
}
