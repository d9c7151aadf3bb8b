import { type Entry, type ListOptions, listCursor } from './types.js';

/**
 * Paged listing (ListOptions.startAfter / limit) for backends that hold a folder's entries in
 * memory (memory, local): with either option the entries are sorted by the UTF-8 bytes of their
 * cursors, so every page sees the same order; without them the order stays the backend's own.
 */
export function listPage(entries: Entry[], options: ListOptions = {}): Entry[] {
  if (options.startAfter === undefined && options.limit === undefined) return entries;
  const keyed = entries.map((e) => ({ e, k: Buffer.from(listCursor(e)) }));
  keyed.sort((a, b) => Buffer.compare(a.k, b.k));
  const after = options.startAfter === undefined ? undefined : Buffer.from(options.startAfter);
  const out = after ? keyed.filter(({ k }) => Buffer.compare(k, after) > 0) : keyed;
  return out.slice(0, options.limit ?? out.length).map(({ e }) => e);
}

/**
 * The same for a listing streamed in the store's own stable order (S3: key order): drop what
 * comes at or before `startAfter` (a store may hand back a folder already seen on an earlier
 * page) and stop after `limit` entries. `after` compares two cursors in the store's order.
 */
export async function* pageStream(
  entries: AsyncIterable<Entry>,
  options: ListOptions,
  after: (cursor: string, startAfter: string) => boolean,
): AsyncIterable<Entry> {
  let left = options.limit ?? Number.POSITIVE_INFINITY;
  if (left <= 0) return;
  for await (const entry of entries) {
    if (options.startAfter !== undefined && !after(listCursor(entry), options.startAfter)) continue;
    yield entry;
    if (--left <= 0) return;
  }
}
