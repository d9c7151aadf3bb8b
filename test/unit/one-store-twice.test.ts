import { describe, expect, it } from 'vitest';
import { MemoryStorage } from '../../src/storage/memory/memory-storage.js';
import type { Entry } from '../../src/storage/types.js';
import { refuseOneStoreTwice, type SideFiles } from '../../src/sync/listing.js';
import type { SyncSide } from '../../src/sync/types.js';

/** The evidence rules of sync's one-store-twice guard (src/sync/listing.ts), on listings as S3 gives them. */

const storage = new MemoryStorage();
const src: SyncSide = { storage, root: 'a/sub', display: 'one:a/sub/' };
const dst: SyncSide = { storage, root: 'a', display: 'two:a/' };
const LM = new Date('2026-11-28T10:00:00.123Z');
const CLIENT = new Date('2020-01-02T03:04:05.000Z');

function entry(path: string, e: Partial<Entry> = {}): Entry {
  return {
    detail: 'listing',
    path,
    name: path.split('/').pop() as string,
    type: 'file',
    size: 5,
    mtime: LM,
    etag: '"e1"',
    ...e,
  };
}
const side = (files: Record<string, Entry>): SideFiles => ({
  files: new Map(Object.entries(files)),
  dirs: new Set(),
  count: Object.keys(files).length,
});
/** Listed with the mtime index: the client time shown, LastModified kept beside it. */
const indexed = (path: string, lastModified = LM) =>
  entry(path, { mtime: CLIENT, clientMtime: true, storeMtime: lastModified });

describe('refuseOneStoreTwice', () => {
  const refused = (from: SideFiles, to: SideFiles, samePath = false) => {
    try {
      refuseOneStoreTwice(src, dst, from, to, samePath);
      return false;
    } catch (err) {
      expect((err as Error).message).toMatch(/^refusing to sync: .* look like one folder seen twice/);
      return true;
    }
  };

  it('an object at x and at sub/x with one ETag, size and LastModified is evidence, also when the mtime index gave its client time', () => {
    expect(
      refused(side({ 'x.txt': entry('a/sub/x.txt') }), side({ 'sub/x.txt': entry('a/sub/x.txt') })),
    ).toBe(true);
    expect(() =>
      refuseOneStoreTwice(
        src,
        dst,
        side({ 'x.txt': entry('a/sub/x.txt') }),
        side({ 'sub/x.txt': entry('a/sub/x.txt') }),
        false,
      ),
    ).toThrow(
      /is one:a\/sub\/x\.txt and two:a\/sub\/x\.txt\): sync between separate folders; nothing was changed$/,
    );
    expect(
      refused(side({ 'x.txt': indexed('a/sub/x.txt') }), side({ 'sub/x.txt': indexed('a/sub/x.txt') })),
    ).toBe(true);
    // One spelling's scope has the index record, the other's not (another endpoint spelling).
    expect(
      refused(side({ 'x.txt': indexed('a/sub/x.txt') }), side({ 'sub/x.txt': entry('a/sub/x.txt') })),
    ).toBe(true);
    expect(
      refused(side({ 'x.txt': entry('a/sub/x.txt') }), side({ 'sub/x.txt': indexed('a/sub/x.txt') })),
    ).toBe(true);
  });

  it('a copy (same ETag and client time, its own LastModified), an empty file, or an entry without its LastModified is not', () => {
    const later = new Date(LM.getTime() + 1);
    expect(
      refused(
        side({ 'x.txt': indexed('a/sub/x.txt') }),
        side({ 'sub/x.txt': indexed('a/sub/x.txt', later) }),
      ),
    ).toBe(false);
    expect(
      refused(
        side({ 'x.txt': entry('a/sub/x.txt', { size: 0 }) }),
        side({ 'sub/x.txt': entry('a/sub/x.txt', { size: 0 }) }),
      ),
    ).toBe(false);
    const noStoreTime = entry('a/sub/x.txt', { mtime: CLIENT, clientMtime: true });
    expect(refused(side({ 'x.txt': noStoreTime }), side({ 'sub/x.txt': noStoreTime }))).toBe(false);
  });

  it('among many files of one content (one ETag), the one with the same LastModified is found', () => {
    const from: Record<string, Entry> = {};
    for (let i = 0; i < 50; i++)
      from[`c${i}.txt`] = entry(`a/sub/c${i}.txt`, { mtime: new Date(LM.getTime() - 1000 - i) });
    from['x.txt'] = indexed('a/sub/x.txt');
    expect(refused(side(from), side({ 'sub/x.txt': entry('a/sub/x.txt') }))).toBe(true);
    expect(
      refused(side(from), side({ 'sub/x.txt': entry('a/sub/x.txt', { mtime: new Date(LM.getTime() + 1) }) })),
    ).toBe(false);
  });

  it('the same path is evidence only when asked (a move), never for unrelated paths', () => {
    const one = side({ 'sub/x.txt': indexed('a/sub/x.txt') });
    expect(refused(one, side({ 'sub/x.txt': entry('a/sub/x.txt') }), false)).toBe(false);
    expect(refused(one, side({ 'sub/x.txt': entry('a/sub/x.txt') }), true)).toBe(true);
    expect(refused(side({ 'x.txt': entry('a/sub/x.txt') }), side({ 'subx.txt': entry('a/subx.txt') }))).toBe(
      false,
    );
  });
});
