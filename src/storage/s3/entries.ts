import type { HeadObjectCommandOutput } from '@aws-sdk/client-s3';
import { lookup as mimeLookup } from 'mime-types';
import { baseName } from '../paths.js';
import type { Entry, StoragePath } from '../types.js';
import { MTIME_META, parseMtime } from './keys.js';

const EPOCH = new Date(0);

/** Content type from the file name, as aws s3 cp and rclone guess it; binary when unknown. */
export function contentTypeFor(path: StoragePath): string {
  return mimeLookup(path) || 'application/octet-stream';
}

/** The entry a HEAD describes: the client-set mtime (X-Amz-Meta-Mtime) wins over LastModified. */
export function headEntry(path: StoragePath, head: HeadObjectCommandOutput, type: 'file' | 'dir'): Entry {
  const metadata = head.Metadata ?? {};
  return {
    path,
    name: baseName(path),
    type,
    size: type === 'dir' ? 0 : (head.ContentLength ?? 0),
    mtime: parseMtime(metadata[MTIME_META]) ?? head.LastModified ?? EPOCH,
    contentType: head.ContentType,
    etag: head.ETag,
    storageClass: head.StorageClass ?? 'STANDARD',
    metadata,
  };
}
