import type { HeadObjectCommandOutput } from '@aws-sdk/client-s3';
import { copyObject } from '../../s3/copy.js';
import type { Entry, StoragePath } from '../types.js';
import { headEntry } from './entries.js';
import { checkFileTarget, keepParent, parentWouldVanish } from './folders.js';
import { MTIME_META, parseMtime } from './keys.js';
import { deleteKey } from './remove.js';
import type { S3Storage } from './s3-storage.js';

/**
 * Server-side copy of the file `from` of `source` (`target` itself or another bucket of the
 * account) to `to` of `target`. `known` is the source's HEAD when the caller already made it
 * (rename), saving a request; with it the copy is exact (the same object under another name: see
 * CopyOptions.exact) and the target is taken as checked.
 */
export async function copyFile(
  target: S3Storage,
  source: S3Storage,
  from: StoragePath,
  to: StoragePath,
  known?: HeadObjectCommandOutput,
): Promise<Entry> {
  const [head] = await Promise.all([
    known ?? source.headFile(from),
    known ? undefined : checkFileTarget(target, to),
  ]);
  const key = target.keys.file(to);
  const res = await target.send('CopyObject', key, () =>
    copyObject(
      target.client,
      { bucket: source.bucket, key: source.keys.file(from), size: head.ContentLength ?? 0, head },
      { bucket: target.bucket, key },
      { ...target.copySettings(), exact: known !== undefined },
    ),
  );
  // The copy keeps X-Amz-Meta-Mtime: the index learns it under the new key and ETag.
  await target.noteMtime(key, res.etag, parseMtime(head.Metadata?.[MTIME_META]));
  return headEntry(to, head, 'file');
}

/**
 * Rename the file `from` (its HEAD: `head`) to `to`: an exact server-side copy, then the source
 * deleted; a folder that would lose its last entry keeps a marker (folders.ts).
 */
export async function renameFile(
  s3: S3Storage,
  from: StoragePath,
  to: StoragePath,
  head: HeadObjectCommandOutput,
): Promise<void> {
  const [, vanish] = await Promise.all([
    checkFileTarget(s3, to, { folderCode: 'AlreadyExists' }),
    parentWouldVanish(s3, from, to),
  ]);
  await copyFile(s3, s3, from, to, head);
  await keepParent(s3, from, vanish);
  await deleteKey(s3, s3.keys.file(from));
  await s3.forgetMtimes([s3.keys.file(from)]);
}
