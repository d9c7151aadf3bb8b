import { createRequire } from 'node:module';
import type { HeadObjectCommandOutput } from '@aws-sdk/client-s3';
import { baseName } from '../paths.js';
import type { Entry, StoragePath } from '../types.js';
import { MTIME_META, parseMtime } from './keys.js';

const EPOCH = new Date(0);

/**
 * mime-types, loaded on the first guess: its database costs start-up time (tens of ms of CPU) that a
 * listing (`ferry ls`, an SFTP server that only lists) never needs.
 */
let mimeLookup: ((path: string) => string | false) | undefined;

/** Content type from the file name, as aws s3 cp and rclone guess it; binary when unknown. */
export function contentTypeFor(path: StoragePath): string {
  mimeLookup ??= (createRequire(import.meta.url)('mime-types') as typeof import('mime-types')).lookup;
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
