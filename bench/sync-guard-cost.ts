/**
 * The cost of sync's one-store-twice guard (src/sync/listing.ts) beside main's (b73afbe) version,
 * copied here, in one process: N files a side, no overlap, median of 9. No S3.
 * Run: flock /tmp/ferry-bench.lock npx tsx bench/sync-guard-cost.ts [files=100000]
 */

import type { Entry } from '../src/storage/types.js';
import { refuseOneStoreTwice } from '../src/sync/listing.js';

type Side = { files: Map<string, Entry> };
function mainGuard(from: Side, to: Side, move: boolean): void {
  const seen = new Map<string, string>();
  const key = (e: Entry) => `${e.etag}\0${e.size}\0${e.mtime.getTime()}`;
  const evidence = (e: Entry) => e.etag !== undefined && e.size > 0 && !e.clientMtime;
  for (const [rel, e] of from.files) if (evidence(e)) seen.set(key(e), rel);
  if (seen.size === 0) return;
  for (const [rel, e] of to.files) {
    const at = evidence(e) ? seen.get(key(e)) : undefined;
    if (at === undefined) continue;
    const nested = rel.endsWith(`/${at}`) || at.endsWith(`/${rel}`);
    if (nested || (move && at === rel)) throw new Error('refused');
  }
}
const n = Number(process.argv[2] ?? 100000);
const mk = (prefix: string, sameContent: boolean) => {
  const files = new Map<string, Entry>();
  for (let i = 0; i < n; i++) {
    const lm = new Date(1_700_000_000_000 + i * 7 + (prefix === 'b' ? 1 : 0));
    const etag = sameContent ? '"0123456789abcdef0123456789abcdef"' : `"${i.toString(16).padStart(32, '0')}"`;
    files.set(`d${i % 100}/f${i}.txt`, {
      detail: 'listing',
      path: `${prefix}/d${i % 100}/f${i}.txt`,
      name: `f${i}.txt`,
      type: 'file',
      size: 1000,
      mtime: lm,
      etag,
    });
  }
  return { files, dirs: new Set<string>(), count: n };
};
const side = { storage: {} as never, root: '', display: 'x' };
for (const same of [false, true]) {
  const a = mk('a', same),
    b = mk('b', same);
  const t = { main: [] as number[], new: [] as number[] };
  for (let r = 0; r < 9; r++) {
    let s = performance.now();
    mainGuard(a, b, true);
    t.main.push(performance.now() - s);
    s = performance.now();
    refuseOneStoreTwice(side, side, a, b, true);
    t.new.push(performance.now() - s);
  }
  const med = (x: number[]) => x.sort((p, q) => p - q)[4]!;
  console.log(
    `${n} files per side (no overlap), ${same ? 'all one content (one ETag)' : 'each its own ETag'}: main ${med(t.main).toFixed(1)} ms, new ${med(t.new).toFixed(1)} ms, ratio new/main ${(med(t.new) / med(t.main)).toFixed(2)}`,
  );
}
