import type { Entry, Storage, StoragePath } from '../storage/types.js';
import type { CompareMode } from './types.js';

/**
 * How a file on both sides is judged (docs/sync.md):
 * - `size-mtime` (default, the rule `aws s3 sync` uses): different when the sizes differ or the
 *   source is newer than the destination, in whole seconds (S3's LastModified has no finer
 *   grain). A listing's mtime is what it carries: local files their mtime, S3 objects
 *   LastModified (or the client mtime when the mtime index joined it). After a local→S3 copy
 *   LastModified is the upload time, later than the local mtime, so a re-sync copies nothing;
 *   an S3→local copy sets the local mtime to the source's listed time, equal next time.
 * - `size`: different when the sizes differ.
 * - `checksum`: different when the sizes differ, else when the SHA-256s differ (`storage.hash`:
 *   S3 answers from its stored `ferry-sha256` with one HEAD, or reads the object; a local file
 *   is read) — never a multipart ETag.
 */
export type Verdict = 'same' | 'different';

/** Seconds since the epoch, the grain every side can keep. */
export function seconds(d: Date): number {
  return Math.floor(d.getTime() / 1000);
}

/** `a` is newer than `b`, in whole seconds. */
export function newer(a: Entry, b: Entry): boolean {
  return seconds(a.mtime) > seconds(b.mtime);
}

export type Hasher = (storage: Storage, path: StoragePath) => Promise<string>;

/** SHA-256 via the backend (stored when it keeps one, else by reading), memoised per run. */
export function hasher(signal?: AbortSignal): Hasher {
  const memo = new Map<string, Promise<string>>();
  const ids = new WeakMap<Storage, number>();
  let next = 0;
  return (storage, path) => {
    let id = ids.get(storage);
    if (id === undefined) {
      id = next++;
      ids.set(storage, id);
    }
    const key = `${id} ${path}`;
    let h = memo.get(key);
    if (!h) {
      h = storage.hash(path, 'sha256', { signal });
      memo.set(key, h);
    }
    return h;
  };
}

export async function judge(
  mode: CompareMode,
  src: { storage: Storage; entry: Entry },
  dst: { storage: Storage; entry: Entry },
  hash: Hasher,
): Promise<Verdict> {
  if (src.entry.size !== dst.entry.size) return 'different';
  if (mode === 'size') return 'same';
  if (mode === 'size-mtime') return newer(src.entry, dst.entry) ? 'different' : 'same';
  const [a, b] = await Promise.all([hash(src.storage, src.entry.path), hash(dst.storage, dst.entry.path)]);
  return a === b ? 'same' : 'different';
}
