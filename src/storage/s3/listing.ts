import type { _Object, ListObjectsV2CommandOutput } from '@aws-sdk/client-s3';
import { StorageError } from '../errors.js';
import { baseName, parentOf } from '../paths.js';
import type { Entry, StoragePath } from '../types.js';
import { HADOOP_DIR_SUFFIX, type KeyMap } from './keys.js';

const EPOCH = new Date(0);

/** One ListObjectsV2 request, errors translated (s3/list-pager.ts). */
export type ListPage = (input: {
  Prefix: string;
  Delimiter?: string;
  ContinuationToken?: string;
  /** Keys after this one only (paged listings); ignored once a continuation token is given. */
  StartAfter?: string;
  MaxKeys?: number;
  /** Gives up the request in flight (a store that does not answer holds no aborted listing). */
  signal?: AbortSignal;
}) => Promise<ListObjectsV2CommandOutput>;

/** Every page of a listing, one request at a time, as the caller consumes them. */
export async function* pages(
  list: ListPage,
  prefix: string,
  delimiter?: string,
  startAfter?: string,
  signal?: AbortSignal,
): AsyncIterable<ListObjectsV2CommandOutput> {
  let token: string | undefined;
  do {
    const page = await list({
      Prefix: prefix,
      Delimiter: delimiter,
      ContinuationToken: token,
      StartAfter: token ? undefined : startAfter,
      signal,
    });
    yield page;
    const next = page.IsTruncated ? page.NextContinuationToken : undefined;
    // A truncated page with no way on, or one pointing back at itself, would end the listing
    // early (a mirror then deletes what it did not see) or repeat it for ever: refused.
    if (page.IsTruncated && !next) throw new StorageError('Transient', TRUNCATED);
    if (next !== undefined && next === token) throw new StorageError('Transient', REPEATED);
    token = next;
  } while (token);
}

const TRUNCATED =
  'the store said the listing was truncated but gave no continuation token (an S3 protocol error; the listing is incomplete)';
const REPEATED =
  'the store gave back the same continuation token it was asked with (an S3 protocol error; the listing would never end)';

/**
 * The client-set mtimes of a page's objects by key (S3Storage's mtime index, one query per page),
 * or undefined (no index, or it failed: LastModified applies).
 */
export type MtimeJoin = (objects: readonly _Object[]) => Promise<ReadonlyMap<string, Date> | undefined>;

/**
 * Each page with its client mtimes (one `join` per page), so that the join of the next page runs
 * in the prefetch (`ahead`) too, while the consumer works on this one.
 */
async function* joined(
  source: AsyncIterable<ListObjectsV2CommandOutput>,
  join: MtimeJoin | undefined,
): AsyncIterable<{ page: ListObjectsV2CommandOutput; times: ReadonlyMap<string, Date> | undefined }> {
  for await (const page of source) {
    yield { page, times: join && page.Contents?.length ? await join(page.Contents) : undefined };
  }
}

/**
 * With an mtime join, or for a whole (unpaged) listing: the next page is asked for as soon as one
 * is handed out, so the store lookup and the consumer's work on a page overlap the LIST of the
 * next (a consumer stopping early costs one LIST).
 */
async function* ahead<T>(source: AsyncIterable<T>, on: boolean): AsyncIterable<T> {
  if (!on) {
    yield* source;
    return;
  }
  const it = source[Symbol.asyncIterator]();
  let next = it.next();
  try {
    for (;;) {
      const r = await next;
      if (r.done) return;
      next = it.next();
      next.catch(() => {}); // seen by the next round's await, or dropped with the listing
      yield r.value;
    }
  } finally {
    await it.return?.(undefined)?.catch(() => {});
  }
}

/**
 * A page's folders and files in one list by key (UTF-8 bytes, S3's order). A page of files only
 * that is in that order already (S3 gives it so) is not sorted again: undefined then, and the
 * caller walks `Contents` as it is. UTF-16 order (`<`) is the UTF-8 byte order unless a key holds
 * a character from U+D800 up, so only then are bytes compared.
 */
function mergeByKey(page: ListObjectsV2CommandOutput): { key: string; o: _Object | undefined }[] | undefined {
  const contents = page.Contents ?? [];
  if (!page.CommonPrefixes?.length && inOrder(contents)) return undefined;
  const all: { key: string; o: _Object | undefined; bytes?: Buffer }[] = [
    ...(page.CommonPrefixes ?? []).map((cp) => ({ key: cp.Prefix!, o: undefined })),
    ...contents.map((o) => ({ key: o.Key!, o })),
  ];
  for (const item of all) item.bytes = Buffer.from(item.key);
  return all.sort((a, b) => Buffer.compare(a.bytes!, b.bytes!));
}

const HIGH = /[\ud800-\uffff]/;

function inOrder(objects: readonly _Object[]): boolean {
  let previous = '';
  for (let i = 0; i < objects.length; i++) {
    const key = objects[i]!.Key!;
    if (HIGH.test(key)) return false;
    if (i > 0 && !(previous < key)) return false;
    previous = key;
  }
  return true;
}

/** A `name/` key with bytes in it: not only a folder marker. */
function hasContent(key: string, o: { Size?: number }): boolean {
  return key.endsWith('/') && (o.Size ?? 0) > 0;
}

/** A `dir_$folder$` key is a Hadoop folder marker when empty; with content it is a file. */
function isHadoopMarker(key: string, size: number | undefined): boolean {
  return key.endsWith(HADOOP_DIR_SUFFIX) && (size ?? 0) === 0;
}

/**
 * A listing entry: no content type or metadata (see `Entry.detail`); the client mtime only when
 * the mtime index knew it (`clientMtime`, LastModified then kept as `storeMtime`).
 */
function file(
  path: StoragePath,
  o: { Size?: number; LastModified?: Date; ETag?: string; StorageClass?: string },
  clientMtime?: Date,
): Entry {
  const entry: Entry = {
    detail: 'listing',
    path,
    name: baseName(path),
    type: 'file',
    size: o.Size ?? 0,
    mtime: clientMtime ?? o.LastModified ?? EPOCH,
    etag: o.ETag,
    storageClass: o.StorageClass,
  };
  if (clientMtime) {
    entry.clientMtime = true;
    if (o.LastModified) entry.storeMtime = o.LastModified;
  }
  return entry;
}

function dir(path: StoragePath, mtime: Date = EPOCH): Entry {
  return { detail: 'listing', path, name: baseName(path), type: 'dir', size: 0, mtime };
}

/*
 * Both listings below hand out a page's entries as one array (an empty page: none): a consumer
 * taking them one by one through async generators paid a promise and a microtask round per
 * entry per layer, most of what `ferry ls` spent per key (S3Storage.list flattens them, once).
 */

/**
 * The direct children of the folder whose key prefix is `prefix`, from ListObjectsV2 pages with
 * delimiter `/`, a page at a time: common prefixes and `_$folder$` markers are folders, the
 * folder's own `dir/` marker is skipped. Never a HEAD per entry. Returns whether anything at all
 * was under `prefix` (the folder's own marker included) through `seen.any`, so the caller can
 * tell an empty folder from a missing one without another request when the answer is "something".
 */
export async function* listChildren(
  list: ListPage,
  keys: KeyMap,
  prefix: string,
  seen: { any: boolean },
  startAfter?: string,
  join?: MtimeJoin,
  prefetch = false,
  signal?: AbortSignal,
): AsyncIterable<Entry[]> {
  const dirsYielded = new Set<string>();
  for await (const { page, times } of ahead(
    joined(pages(list, prefix, '/', startAfter, signal), join),
    join !== undefined || prefetch,
  )) {
    const out: Entry[] = [];
    const take = (key: string, o: _Object | undefined): void => {
      seen.any = true;
      if (!o) {
        const rel = keys.path(key.slice(0, -1));
        if (dirsYielded.has(rel)) return;
        dirsYielded.add(rel);
        out.push(dir(rel));
        return;
      }
      if (key === prefix || key.endsWith('/')) {
        // The folder's own marker; one holding bytes is also a file named '' in it (`‛`).
        if (hasContent(key, o)) out.push(file(keys.path(key), o, times?.get(key)));
        return;
      }
      if (isHadoopMarker(key, o.Size)) {
        const rel = keys.path(key.slice(0, -HADOOP_DIR_SUFFIX.length));
        if (!dirsYielded.has(rel)) {
          dirsYielded.add(rel);
          out.push(dir(rel, o.LastModified));
        }
        return;
      }
      out.push(file(keys.path(key), o, times?.get(key)));
    };
    // S3 gives a page's folders and files in two lists; merged by key (UTF-8 bytes, S3's order),
    // a listing is in key order (what paged listings rely on).
    const merged = mergeByKey(page);
    if (merged) for (const { key, o } of merged) take(key, o);
    else for (const o of page.Contents ?? []) take(o.Key!, o);
    if (out.length > 0) yield out;
  }
}

/**
 * Every descendant of the folder `prefix` from one flat listing (no delimiter), a page at a time:
 * files, marker folders, and the folders implied by the keys' paths, each folder once.
 */
export async function* listTree(
  list: ListPage,
  keys: KeyMap,
  prefix: string,
  seen: { any: boolean },
  startAfter?: string,
  join?: MtimeJoin,
  prefetch = false,
  signal?: AbortSignal,
): AsyncIterable<Entry[]> {
  const root = prefix === keys.base ? '' : keys.path(prefix.slice(0, -1));
  const dirs = new Set<string>();
  const impliedDirs = (rel: string, out: Entry[]): void => {
    const missing: string[] = [];
    for (let p = parentOf(rel); p !== root && p !== '' && !dirs.has(p); p = parentOf(p)) missing.push(p);
    for (let i = missing.length - 1; i >= 0; i--) {
      dirs.add(missing[i]!);
      out.push(dir(missing[i]!));
    }
  };
  for await (const { page, times } of ahead(
    joined(pages(list, prefix, undefined, startAfter, signal), join),
    join !== undefined || prefetch,
  )) {
    const out: Entry[] = [];
    for (const o of page.Contents ?? []) {
      seen.any = true;
      const key = o.Key!;
      // A marker holding bytes (another tool's) is also a file named '' in its folder (`‛`), as
      // `a//b` is a file `b` in a folder named '': never dropped as an empty marker would be.
      const content = hasContent(key, o) ? file(keys.path(key), o, times?.get(key)) : undefined;
      if (key === prefix) {
        if (content) out.push(content);
        continue;
      }
      let rel: string;
      let isDir = true;
      if (key.endsWith('/')) rel = keys.path(key.slice(0, -1));
      else if (isHadoopMarker(key, o.Size)) rel = keys.path(key.slice(0, -HADOOP_DIR_SUFFIX.length));
      else {
        rel = keys.path(key);
        isDir = false;
      }
      impliedDirs(rel, out);
      if (!isDir) out.push(file(rel, o, times?.get(key)));
      else if (!dirs.has(rel)) {
        dirs.add(rel);
        out.push(dir(rel, o.LastModified));
      }
      if (content) out.push(content);
    }
    if (out.length > 0) yield out;
  }
}

/** The entries of a listing's batches one by one. */
export async function* flatten(batches: AsyncIterable<Entry[]>): AsyncIterable<Entry> {
  for await (const batch of batches) yield* batch;
}
