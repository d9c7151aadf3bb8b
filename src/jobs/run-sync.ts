import { copyFile } from '../storage/operations.js';
import { joinPath } from '../storage/paths.js';
import type { Entry } from '../storage/types.js';
import type { RunSync, SyncAction, SyncPlan } from '../sync/types.js';

/**
 * STAND-IN for src/sync/index.ts `runSync` (helper "sync" writes the real one): copy mode only,
 * compare by size, no filters. Replaced by `export { runSync } from '../sync/index.js'` once that
 * lands; the jobs code depends only on the RunSync type.
 */
export const runSync: RunSync = async (src, dst, options, onEvent) => {
  const started = Date.now();
  const files = async (side: typeof src) => {
    const out = new Map<string, Entry>();
    try {
      for await (const e of side.storage.list(side.root, { recursive: true, signal: options.signal })) {
        if (e.type === 'file') out.set(rel(side.root, e.path), e);
      }
    } catch (err) {
      if ((err as { code?: string }).code !== 'NotFound') throw err;
    }
    return out;
  };
  const [have, there] = [await files(src), await files(dst)];
  const actions: SyncAction[] = [];
  let unchanged = 0;
  for (const [path, entry] of have) {
    const other = there.get(path);
    if (other && other.size === entry.size) unchanged++;
    else actions.push({ op: 'copy', from: 'src', path, to: path, entry, reason: other ? 'changed' : 'new' });
  }
  const plan: SyncPlan = { actions, unchanged, listed: { src: 1, dst: 1 } };
  const summary = {
    copied: 0,
    updated: 0,
    deleted: 0,
    skipped: unchanged,
    conflicts: 0,
    failed: 0,
    bytes: 0,
    ms: 0,
  };
  if (!options.dryRun) {
    for (const a of actions) {
      if (a.op !== 'copy') continue;
      try {
        await copyFile(src.storage, joinPath(src.root, a.path), dst.storage, joinPath(dst.root, a.to), {
          known: a.entry,
          signal: options.signal,
        });
        if (a.reason === 'new') summary.copied++;
        else summary.updated++;
        summary.bytes += a.entry.size;
        onEvent?.({ kind: 'done', action: a, bytes: a.entry.size });
      } catch (err) {
        summary.failed++;
        onEvent?.({ kind: 'failed', action: a, error: (err as Error).message });
      }
    }
  }
  summary.ms = Date.now() - started;
  return { plan, summary };
};

function rel(root: string, path: string): string {
  return root === '' ? path : path.slice(root.length + 1);
}
