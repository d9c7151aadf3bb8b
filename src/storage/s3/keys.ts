import { StorageError } from '../errors.js';
import { decodePath, encodePath, QUOTE } from '../names.js';
import type { StoragePath } from '../types.js';

/** Content type of the zero-byte `dir/` marker objects Ferry writes (as rclone and s3fs do). */
export const DIR_CONTENT_TYPE = 'application/x-directory';

/** Content types other tools give folder markers. */
const DIR_CONTENT_TYPES = new Set([DIR_CONTENT_TYPE, 'httpd/unix-directory', 'application/directory']);

/** Suffix of the folder markers Hadoop's s3n/EMRFS write (`dir_$folder$`). */
export const HADOOP_DIR_SUFFIX = '_$folder$';

/** True when a HEAD of a slash-less key describes a folder marker (old s3fs writes these). */
export function isDirMarkerHead(size: number | undefined, contentType: string | undefined): boolean {
  return (
    (size ?? 0) === 0 && contentType !== undefined && DIR_CONTENT_TYPES.has(contentType.split(';')[0]!.trim())
  );
}

/** Metadata name under which a client-set mtime is kept (`X-Amz-Meta-Mtime`, as rclone does). */
export const MTIME_META = 'mtime';

/** Format an mtime as rclone does: seconds since the epoch with a fraction. */
export function formatMtime(date: Date): string {
  return (date.getTime() / 1000).toFixed(3).replace(/\.?0+$/, '');
}

/** Read an `X-Amz-Meta-Mtime` value (seconds with fraction; rclone also accepts RFC 3339). */
export function parseMtime(value: string | undefined): Date | undefined {
  if (!value) return undefined;
  const seconds = Number(value);
  const date = Number.isFinite(seconds) ? new Date(seconds * 1000) : new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

/**
 * True when the last segment of `path` is `‛`, the empty native name: its file key (`x/`) would be
 * the parent's folder marker, so no file can have it (as no local file can have an empty name).
 */
export function endsInEmptyName(path: StoragePath): boolean {
  return path === QUOTE || path.endsWith(`/${QUOTE}`);
}

/** InvalidArgument for a file path ending in the empty name (see `endsInEmptyName`) or `_$folder$`. */
export function checkFileName(path: StoragePath): void {
  if (endsInEmptyName(path)) {
    throw new StorageError('InvalidArgument', `a file cannot have an empty name: /${path}`, { path });
  }
  // An empty one would list as the folder `x` (a Hadoop marker), hiding the file.
  if (path.endsWith(HADOOP_DIR_SUFFIX)) {
    throw new StorageError(
      'InvalidArgument',
      `a file name may not end in ${HADOOP_DIR_SUFFIX} on S3 (Hadoop's folder markers): /${path}`,
      { path },
    );
  }
}

/**
 * Maps storage paths to keys under a bucket prefix (the chroot), through the name encoding of
 * names.ts: a key segment no path can express (NFD, control characters, empty from `a//b`, `.`,
 * `..`, or beginning with `‛`) has the path segment `‛` + its percent-encoding, so every key below
 * the prefix has exactly one path and every path exactly one key. The prefix itself is kept raw.
 */
export class KeyMap {
  /** `prefix/` or '' for the bucket root. */
  readonly base: string;

  constructor(prefix: string) {
    this.base = prefix === '' ? '' : `${prefix}/`;
  }

  /** Object key of a file at `path`. */
  file(path: StoragePath): string {
    return this.base + decodePath(path);
  }

  /** Key prefix of the folder at `path` (with trailing `/`; `base` for the root). */
  dir(path: StoragePath): string {
    return path === '' ? this.base : `${this.base}${decodePath(path)}/`;
  }

  /** Storage path of a key below the base (a key prefix without its trailing `/` for folders). */
  path(key: string): StoragePath {
    return encodePath(key.slice(this.base.length));
  }
}
