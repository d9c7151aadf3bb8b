import type { Stats } from 'node:fs';
import * as fs from 'node:fs/promises';

/** Stats started this many names ahead of the one a listing is at. */
const STAT_AHEAD = 32;

/**
 * `stats(i)`: the stat of `items[i]` (at `absOf(items[i])`), for a walk that takes them in order.
 * Each stat is a trip through libuv's thread pool; one at a time they left the pool mostly idle
 * and made a listing of 10,000 files wait for 10,000 round trips, so up to STAT_AHEAD are in
 * flight ahead of the walk. A stat started for an item the walk then skips or stops before is
 * never thrown (its failure is held, not left unhandled); a consumed one is let go.
 */
export function statsAhead<T>(
  items: readonly T[],
  absOf: (item: T) => string,
): (i: number) => Promise<Stats> {
  const started = new Map<number, Promise<{ st?: Stats; err?: unknown }>>();
  let next = 0;
  return async (i) => {
    for (; next < Math.min(items.length, i + STAT_AHEAD); next++) {
      const item = items[next]!;
      started.set(
        next,
        (async () => fs.stat(absOf(item)))().then(
          (st) => ({ st }),
          (err: unknown) => ({ err }),
        ),
      );
    }
    const got = await started.get(i)!;
    started.delete(i);
    if (got.st) return got.st;
    throw got.err;
  };
}
