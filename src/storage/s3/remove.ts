import { translateS3Error } from '../../s3/errors.js';
import { s3Sdk } from '../../s3/sdk.js';
import { notFound, StorageError } from '../errors.js';
import type { StoragePath } from '../types.js';
import { keepParent, parentWouldVanish } from './folders.js';
import { isDirMarkerHead } from './keys.js';
import { pages } from './listing.js';
import type { S3Storage } from './s3-storage.js';

/*
 * Deleting from S3Storage: a file, an empty folder, a tree, and the keys themselves. A folder
 * whose last entry goes stays (folders.ts keepParent: its marker is written first).
 */

/** Characters an XML 1.0 request body cannot carry exactly. */
const XML_UNSAFE = /[\u0000-\u001f\ufffe\uffff]/;

/** Delete a file; its folder stays even when this was its last file. */
export async function removeFile(s3: S3Storage, path: StoragePath): Promise<void> {
  const [head, vanish] = await Promise.all([s3.head(path), parentWouldVanish(s3, path)]);
  if (!head || isDirMarkerHead(head.ContentLength, head.ContentType)) {
    if (head || (await s3.firstKeyUnder(path)) !== undefined) {
      throw new StorageError('IsADirectory', `is a folder: /${path}`, { path });
    }
    throw notFound(path);
  }
  await keepParent(s3, path, vanish);
  await deleteKey(s3, s3.keys.file(path));
  await s3.forgetMtimes([s3.keys.file(path)]);
}

/** Remove an empty folder; its parent stays even when this was its last entry. */
export async function removeFolder(s3: S3Storage, path: StoragePath): Promise<void> {
  const prefix = s3.keys.dir(path);
  const [page, vanish] = await Promise.all([
    s3.listPage({ Prefix: prefix, MaxKeys: 2 }),
    parentWouldVanish(s3, path),
  ]);
  const keys = (page.Contents ?? []).map((o) => o.Key!);
  if (keys.some((k) => k !== prefix))
    throw new StorageError('NotEmpty', `folder not empty: /${path}`, { path });
  if (keys.length === 0) {
    const head = await s3.head(path);
    if (!head) throw notFound(path);
    if (!isDirMarkerHead(head.ContentLength, head.ContentType)) {
      throw new StorageError('NotADirectory', `not a folder: /${path}`, { path });
    }
    await keepParent(s3, path, vanish);
    await deleteKey(s3, s3.keys.file(path));
    return;
  }
  await keepParent(s3, path, vanish);
  await deleteKey(s3, prefix);
}

/** Remove a folder and everything below it, a page of keys at a time. */
export async function removeTree(s3: S3Storage, path: StoragePath): Promise<void> {
  const prefix = s3.keys.dir(path);
  const [vanish, first] = await Promise.all([parentWouldVanish(s3, path), s3.firstKeyUnder(path)]);
  // The parent stays (folders.ts); for a slash-less marker alone the check below decides.
  if (first !== undefined) await keepParent(s3, path, vanish);
  let any = false;
  for await (const page of pages(s3.listPage, prefix)) {
    const keys = (page.Contents ?? []).map((o) => o.Key!);
    any ||= keys.length > 0;
    await deleteKeys(s3, keys);
    await s3.forgetMtimes(keys);
  }
  const head = await s3.head(path);
  if (head && !isDirMarkerHead(head.ContentLength, head.ContentType)) {
    throw new StorageError('NotADirectory', `not a folder: /${path}`, { path });
  }
  if (head) {
    if (first === undefined) await keepParent(s3, path, vanish);
    await deleteKey(s3, s3.keys.file(path));
  } else if (!any) throw notFound(path);
}

/**
 * Delete up to 1,000 keys with one DeleteObjects; the first key refused becomes the error.
 * Keys XML 1.0 cannot carry (control characters; a CR would even arrive as LF) are deleted one by
 * one with DeleteObject, whose key travels in the URL: RGW answers 400 to the whole batch.
 */
export async function deleteKeys(s3: S3Storage, keys: string[]): Promise<void> {
  const notXml = keys.filter((k) => XML_UNSAFE.test(k));
  if (notXml.length > 0) {
    for (const k of notXml) await deleteKey(s3, k);
    keys = keys.filter((k) => !XML_UNSAFE.test(k));
  }
  if (keys.length === 0) return;
  const res = await s3.send('DeleteObjects', keys[0]!, () =>
    s3.client.send(
      new (s3Sdk().DeleteObjectsCommand)({
        Bucket: s3.bucket,
        Delete: { Objects: keys.map((Key) => ({ Key })), Quiet: true },
        ...s3.params.payer,
      }),
    ),
  );
  const failed = res.Errors?.[0];
  if (failed) {
    throw translateS3Error(
      { name: failed.Code, message: failed.Message },
      {
        operation: 'DeleteObject',
        bucket: s3.bucket,
        key: failed.Key,
        path: s3.keys.path(failed.Key ?? ''),
      },
    );
  }
}

/** Delete one key (DeleteObject). */
export async function deleteKey(s3: S3Storage, key: string): Promise<void> {
  await s3.send('DeleteObject', key, () =>
    s3.client.send(new (s3Sdk().DeleteObjectCommand)({ Bucket: s3.bucket, Key: key, ...s3.params.payer })),
  );
}
