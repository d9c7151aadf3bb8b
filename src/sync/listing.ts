import { StorageError } from '../storage/errors.js';
import { parentOf } from '../storage/paths.js';
import type { Entry, StoragePath } from '../storage/types.js';
import type { SyncSide } from './types.js';

/**
 * A side's listing as one-way (plan.ts) and two-way (bisync.ts) sync plan from it, and the guard
 * both apply to the two listings before planning: one recursive listing, nothing else.
 */
export interface SideFiles {
  /** Files by path relative to the side's root. */
  files: ReadonlyMap<StoragePath, Entry>;
  /** Folders (listed, or implied by a file below them). */
  dirs: ReadonlySet<StoragePath>;
  /** Entries the listing yielded (for SyncPlan.listed). */
  count: number;
}

export const emptySide = (): SideFiles => ({ files: new Map(), dirs: new Set(), count: 0 });

/** The files of a side (those `keep` takes, by path relative to its root) and the folders they imply. */
export async function listSide(
  side: SyncSide,
  keep: (rel: StoragePath) => boolean = () => true,
  signal?: AbortSignal,
): Promise<SideFiles> {
  const files = new Map<StoragePath, Entry>();
  const dirs = new Set<StoragePath>();
  let count = 0;
  const cut = side.root === '' ? 0 : side.root.length + 1;
  for await (const e of side.storage.list(side.root, { recursive: true, signal })) {
    count++;
    const rel = e.path.slice(cut);
    if (e.type === 'dir') {
      dirs.add(rel);
      continue;
    }
    for (let p = parentOf(rel); p !== '' && !dirs.has(p); p = parentOf(p)) dirs.add(p);
    if (keep(rel)) files.set(rel, e);
  }
  return { files, dirs, count };
}

/** A path of a side as a user would write it, for messages. */
export function shown(side: SyncSide, rel: StoragePath): string {
  return `${side.display.replace(/\/$/, '')}/${rel}`;
}

/**
 * The backend's own time of a listed file (S3: LastModified), where the entry has it: an entry
 * whose `mtime` came from the mtime index (`clientMtime`) carries it as `storeMtime`.
 */
function storeTime(e: Entry): number | undefined {
  if (e.storeMtime) return e.storeMtime.getTime();
  return e.clientMtime ? undefined : e.mtime.getTime();
}

/**
 * The sides are one folder and a folder inside it, reached through two spellings of one store
 * (`s3://b/a/sub` and `s3+http://localhost:…/b/a`; two key pairs, two server connections for one
 * bucket, a connection and a user's home in it): the roots cannot be compared, so the evidence is
 * in the listings. An object with the same ETag, size and store time (S3 LastModified, to the ms;
 * never a client mtime, which a copy keeps) at `x` on one side and at `F/x` on the other is one
 * object seen twice (a copy has its own LastModified). With `samePath` (a move), also at the same
 * path: one folder spelt twice, where a move would delete every file as "already there". Empty
 * files prove nothing (one ETag for all). A mirror, move or two-way sync there would delete or
 * copy the tree into itself: refused. A false alarm refuses the run and loses nothing.
 */
export function refuseOneStoreTwice(
  src: SyncSide,
  dst: SyncSide,
  from: SideFiles,
  to: SideFiles,
  samePath: boolean,
): void {
  // By ETag, then store time: no key built per entry (this runs over every file of both sides),
  // and many files of one content (one ETag) still cost one lookup each.
  const seen = new Map<string, { rel: StoragePath; size: number; t: number } | Map<number, StoragePath>>();
  for (const [rel, e] of from.files) {
    const t = e.etag !== undefined && e.size > 0 ? storeTime(e) : undefined;
    if (t === undefined) continue;
    const etag = e.etag as string;
    const one = seen.get(etag);
    if (one === undefined) seen.set(etag, { rel, size: e.size, t });
    else if (one instanceof Map) one.set(t, rel);
    else
      seen.set(
        etag,
        new Map([
          [one.t, one.rel],
          [t, rel],
        ]),
      );
  }
  if (seen.size === 0) return;
  for (const [rel, e] of to.files) {
    const one = e.etag === undefined || e.size === 0 ? undefined : seen.get(e.etag);
    if (one === undefined) continue;
    const t = storeTime(e);
    if (t === undefined) continue;
    // One ETag is one size (an MD5 of the bytes, or of the parts' MD5s: a size check is a formality).
    const at = one instanceof Map ? one.get(t) : one.t === t && one.size === e.size ? one.rel : undefined;
    if (at === undefined) continue;
    const nested = rel.endsWith(`/${at}`) || at.endsWith(`/${rel}`);
    if (nested || (samePath && at === rel))
      throw new StorageError(
        'InvalidArgument',
        `refusing to sync: ${src.display} and ${dst.display} look like one folder seen twice (the same object, same ETag and time, is ${shown(src, at)} and ${shown(dst, rel)}): sync between separate folders; nothing was changed`,
      );
  }
}
