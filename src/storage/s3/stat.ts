import { notFound, StorageError } from '../errors.js';
import { baseName } from '../paths.js';
import type { Entry, StoragePath } from '../types.js';
import { headEntry } from './entries.js';
import { isDirMarkerHead } from './keys.js';
import type { S3Storage } from './s3-storage.js';

const EPOCH = new Date(0);

/**
 * `stat` of an S3 path (docs/s3-semantics.md, "Requests per operation"). One LIST first, of the
 * path's own key as the prefix, MaxKeys=1: S3 lists in byte order and every other key under that
 * prefix is longer, so the key `x` itself, when it is there, comes first. Then:
 * - the key `x`: a file — a HEAD gives its headers (client mtime, content type, metadata), or
 *   shows a slash-less folder marker of old s3fs;
 * - a key under `x/`: a folder, dated by its `x/` marker when that is the first key;
 * - nothing: not found;
 * - a key beside it (`x.txt`, `x-1/…`: bytes below `/` sort before `x/`): no file `x`, and a
 *   second one-key LIST of `x/` tells a folder from nothing.
 * So a folder costs one LIST and no HEAD (an SFTP `ls -l dir`, `cd dir`), a file a LIST and a
 * HEAD, a missing path a LIST and a HEAD (`notListed`) — except a name with an extension
 * (`looksLikeFile`), which is asked by HEAD first: a file one HEAD, a folder HEAD + LIST. A key `x` and keys under `x/` at once (S3 allows it, Ferry never
 * makes it) stat as the file, as when the HEAD came first. Credentials that may HEAD but not LIST
 * stat by HEAD first (`statByHead`).
 */
export async function statPath(s3: S3Storage, path: StoragePath, signal?: AbortSignal): Promise<Entry> {
  if (path === '') return folder(s3, path, await s3.firstKeyUnder(path, signal));
  if (looksLikeFile(path)) return statByHead(s3, path, signal);
  const key = s3.keys.file(path);
  let first: { Key?: string; LastModified?: Date } | undefined;
  try {
    first = (await s3.listPage({ Prefix: key, MaxKeys: 1, signal })).Contents?.[0];
  } catch (err) {
    if (StorageError.is(err, 'PermissionDenied')) return statByHead(s3, path, signal);
    throw err;
  }
  let removed = false;
  if (first?.Key === key) {
    const head = await s3.head(path, signal);
    if (head)
      return headEntry(path, head, isDirMarkerHead(head.ContentLength, head.ContentType) ? 'dir' : 'file');
    removed = true; // gone since the LIST: a folder may still be there
  }
  if (!removed) {
    if (first === undefined) return notListed(s3, path, signal);
    if (first.Key?.startsWith(s3.keys.dir(path))) return folder(s3, path, first);
  }
  const under = await s3.firstKeyUnder(path, signal);
  return under === undefined && !removed ? notListed(s3, path, signal) : folder(s3, path, under);
}

/**
 * Neither the key nor anything under it was listed. A listing may lag a write on some stores
 * (Swift's container listings update after the object; RGW while it reshards a bucket index):
 * a HEAD has the last word before the path is called missing, so a file just written stats as
 * one everywhere. A missing path costs a LIST and a HEAD (as it did with the HEAD first).
 */
async function notListed(s3: S3Storage, path: StoragePath, signal?: AbortSignal): Promise<Entry> {
  const head = await s3.head(path, signal);
  if (!head) throw notFound(path);
  return headEntry(path, head, isDirMarkerHead(head.ContentLength, head.ContentType) ? 'dir' : 'file');
}

/**
 * A name with an extension (`a.txt`, `x.tar.gz`; not `.config`): most likely a file, so its stat
 * asks the HEAD first — one request for the file (an SFTP `get` stats every file, OpenSSH's glob
 * often twice), HEAD + LIST for a folder so named (`v1.2`). Other names LIST first. Only the order
 * of the requests depends on it, never the answer.
 */
export function looksLikeFile(path: StoragePath): boolean {
  return /[^/]\.[^./]+$/.test(path) && !/(^|\/)\.[^./]+$/.test(path);
}

/** The earlier order: HEAD, then a one-key LIST of `x/` when there is no key `x`. */
export async function statByHead(s3: S3Storage, path: StoragePath, signal?: AbortSignal): Promise<Entry> {
  if (path !== '') {
    const head = await s3.head(path, signal);
    if (head)
      return headEntry(path, head, isDirMarkerHead(head.ContentLength, head.ContentType) ? 'dir' : 'file');
  }
  return folder(s3, path, await s3.firstKeyUnder(path, signal));
}

/** A folder entry from the first key under it (its `x/` marker dates it), or NotFound. */
function folder(
  s3: S3Storage,
  path: StoragePath,
  first: { Key?: string; LastModified?: Date } | undefined,
): Entry {
  if (first === undefined) {
    if (path === '') return { path, name: '', type: 'dir', size: 0, mtime: EPOCH };
    throw notFound(path);
  }
  const mtime = first.Key === s3.keys.dir(path) ? first.LastModified : undefined;
  return { path, name: baseName(path), type: 'dir', size: 0, mtime: mtime ?? EPOCH };
}
