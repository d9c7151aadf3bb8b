import { s3Sdk } from '../../s3/sdk.js';
import { StorageError } from '../errors.js';
import { isWithin, parentOf } from '../paths.js';
import type { Entry, StoragePath } from '../types.js';
import { checkFileName, DIR_CONTENT_TYPE, isDirMarkerHead } from './keys.js';
import type { S3Storage } from './s3-storage.js';

/**
 * Folder rules S3 does not keep by itself, kept by the S3 backend as local file systems keep them
 * (see docs/s3-semantics.md):
 * - a file and a folder never share a name: a file is not created under a file (NotADirectory)
 *   nor over a folder (IsADirectory) — S3 would happily hold both `f` and `f/x`;
 * - a folder made by `mkdir` stays with its parents (a marker for every level it created), and a
 *   folder Ferry empties stays (its marker is written before its last key goes), as s3fs and
 *   rclone users expect.
 * Each check is one request and they run in parallel: a small-file write at depth d costs one
 * LIST plus d HEADs (all at once) before its PUT; a caller that knows the parent is a folder
 * (a tree copy into a folder it made) skips the HEADs.
 */

/** The ancestors of `path`, nearest last, the root excluded: `a/b/c` → [`a`, `a/b`]. */
export function ancestorsOf(path: StoragePath): StoragePath[] {
  const out: StoragePath[] = [];
  for (let p = parentOf(path); p !== ''; p = parentOf(p)) out.unshift(p);
  return out;
}

/** NotADirectory when one of `paths` is a file (an old-style slash-less folder marker is not). */
async function checkNoFileAt(s3: S3Storage, paths: StoragePath[]): Promise<void> {
  const heads = await Promise.all(paths.map((p) => s3.head(p)));
  const i = heads.findIndex((h) => h && !isDirMarkerHead(h.ContentLength, h.ContentType));
  if (i >= 0) throw new StorageError('NotADirectory', `not a folder: /${paths[i]}`, { path: paths[i] });
}

/** True when some key lies below the folder `path`: one LIST with MaxKeys=1. */
export async function hasKeysUnder(s3: S3Storage, path: StoragePath): Promise<boolean> {
  return (await s3.firstKeyUnder(path)) !== undefined;
}

/**
 * Check that a file may be put at `path`: its name is not empty (keys.ts), no ancestor is a file (NotADirectory), nothing lies
 * below `path/` (IsADirectory, or `folderCode` — a rename says AlreadyExists). One LIST and one
 * HEAD per ancestor, in parallel; `parentIsFolder` skips the HEADs.
 */
export async function checkFileTarget(
  s3: S3Storage,
  path: StoragePath,
  options: { parentIsFolder?: boolean; folderCode?: 'IsADirectory' | 'AlreadyExists' } = {},
): Promise<void> {
  checkFileName(path);
  const [isFolder] = await Promise.all([
    unlessDenied(hasKeysUnder(s3, path)),
    options.parentIsFolder ? undefined : unlessDenied(checkNoFileAt(s3, ancestorsOf(path))),
  ]);
  if (isFolder) {
    const code = options.folderCode ?? 'IsADirectory';
    const message = code === 'IsADirectory' ? 'is a folder' : 'a folder is in the way';
    throw new StorageError(code, `${message}: /${path}`, { path });
  }
}

/**
 * A check the credentials may not make (a write-only user may not LIST or HEAD) is skipped: such
 * a user cannot see a conflict either, and the write itself then says what it needs.
 */
async function unlessDenied<T>(check: Promise<T>): Promise<T | undefined> {
  return check.catch((err: unknown) => {
    if (StorageError.is(err, 'PermissionDenied')) return undefined;
    throw err;
  });
}

/** NotADirectory when an ancestor of `path` is a file: one HEAD per ancestor, in parallel. */
export async function checkAncestors(s3: S3Storage, path: StoragePath): Promise<void> {
  await checkNoFileAt(s3, ancestorsOf(path));
}

/** Write the zero-byte `path/` marker (application/x-directory) with the connection's settings. */
export async function putMarker(s3: S3Storage, path: StoragePath): Promise<void> {
  const key = s3.keys.dir(path);
  await s3.send('PutObject', key, () =>
    s3.client.send(
      new (s3Sdk().PutObjectCommand)({
        Bucket: s3.bucket,
        Key: key,
        Body: Buffer.alloc(0),
        ContentLength: 0,
        ContentType: DIR_CONTENT_TYPE,
        ...s3.params.create,
      }),
    ),
  );
}

/**
 * `mkdir`: AlreadyExists when anything is at `path`, NotADirectory when an ancestor is a file;
 * otherwise a marker for `path` and for every ancestor that did not exist, so that removing
 * `path` later leaves the parents `mkdir` made. Per level one HEAD and one LIST, all in parallel,
 * then the markers in parallel.
 */
export async function makeFolder(s3: S3Storage, path: StoragePath): Promise<void> {
  const levels = [...ancestorsOf(path), path];
  const found = await Promise.all(
    levels.map(async (p) => {
      const [head, first] = await Promise.all([s3.head(p), s3.firstKeyUnder(p)]);
      return { path: p, head, exists: head !== undefined || first !== undefined };
    }),
  );
  const self = found.at(-1)!;
  const file = found
    .slice(0, -1)
    .find((f) => f.head && !isDirMarkerHead(f.head.ContentLength, f.head.ContentType));
  if (file) throw new StorageError('NotADirectory', `not a folder: /${file.path}`, { path: file.path });
  if (self.exists) throw new StorageError('AlreadyExists', `already exists: /${path}`, { path });
  await Promise.all(found.filter((f) => !f.exists).map((f) => putMarker(s3, f.path)));
}

/**
 * Whether removing `path` (a file, or a folder with everything below it) would make its parent
 * folder vanish: nothing else below the parent, not even a marker (a rename to `movingTo` inside
 * the parent keeps it: no request). One LIST (delimiter `/`,
 * three keys at most). Ask before removing; when true, write the parent's marker (`keepParent`)
 * before the last key goes, so the folder never vanishes, even for a moment or if the process
 * dies in between.
 */
export async function parentWouldVanish(
  s3: S3Storage,
  path: StoragePath,
  movingTo?: StoragePath,
): Promise<boolean> {
  const parent = parentOf(path);
  if (parent === '') return false; // the root never vanishes
  if (movingTo !== undefined && isWithin(movingTo, parent)) return false; // a rename within it
  const page = await s3.listPage({ Prefix: s3.keys.dir(parent), Delimiter: '/', MaxKeys: 3 });
  const self = new Set([s3.keys.file(path), s3.keys.dir(path)]);
  const names = [
    ...(page.Contents ?? []).map((o) => o.Key!),
    ...(page.CommonPrefixes ?? []).map((p) => p.Prefix!),
  ];
  return !names.some((k) => !self.has(k));
}

/** Write the marker of `path`'s parent when `vanish` (from `parentWouldVanish`) says so. */
export async function keepParent(s3: S3Storage, path: StoragePath, vanish: boolean): Promise<void> {
  if (vanish) await putMarker(s3, parentOf(path));
}

/**
 * The time of the folder `path`'s own marker (its LastModified), found with one one-key LIST (a
 * marker sorts first below its prefix); undefined when the folder has no marker.
 */
export async function markerTime(s3: S3Storage, path: StoragePath): Promise<Date | undefined> {
  const first = await s3.firstKeyUnder(path);
  return first?.Key === s3.keys.dir(path) ? first.LastModified : undefined;
}

/**
 * Fill in the times of the folders a listing shows without one (common prefixes: mtime is the
 * epoch) from their markers, `limit` folders at a time, keeping the listing's order, a page
 * (batch) at a time. Costs one LIST per such folder: only for callers that asked (`ls -l`). When
 * a look-up fails, the entries of the page before it are still handed out, then the error.
 */
export async function* withFolderTimes(
  s3: S3Storage,
  batches: AsyncIterable<Entry[]>,
  limit = 8,
): AsyncIterable<Entry[]> {
  const undated = (e: Entry) => e.type === 'dir' && e.mtime.getTime() === 0;
  for await (const batch of batches) {
    if (!batch.some(undated)) {
      yield batch;
      continue;
    }
    const dated: Entry[] = [];
    const window: Promise<Entry>[] = [];
    try {
      for (const e of batch) {
        const next = undated(e)
          ? markerTime(s3, e.path).then((t) => (t ? { ...e, mtime: t } : e))
          : Promise.resolve(e);
        next.catch(() => {}); // awaited below; a failure before it must not leave it unhandled
        window.push(next);
        if (window.length >= limit) dated.push(await window.shift()!);
      }
      while (window.length > 0) dated.push(await window.shift()!);
    } catch (err) {
      if (dated.length > 0) yield dated;
      throw err;
    }
    yield dated;
  }
}
