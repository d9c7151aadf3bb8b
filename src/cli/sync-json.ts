import type { SideName, SyncAction, SyncEvent } from '../sync/types.js';

/**
 * The `--json` lines of `ferry sync`, one-way and two-way alike (docs/sync.md, "Output"). `side`
 * names a side: one-way prints `src` / `dst` as they are, two-way `path1` / `path2`.
 */
export type SideNamer = (side: SideName) => string;

const asIs: SideNamer = (s) => s;

/** An action as JSON: the `plan` lines and the fields every event line starts with. */
export function actionJson(a: SyncAction, side: SideNamer = asIs): Record<string, unknown> {
  if (a.op === 'mkdir') return { op: 'mkdir', on: side(a.on), path: a.path };
  if (a.op === 'delete')
    return { op: 'delete', on: side(a.on), path: a.path, reason: a.reason, size: a.entry.size };
  return {
    op: 'copy',
    from: side(a.from),
    path: a.path,
    to: a.to,
    reason: a.reason,
    size: a.entry.size,
  };
}

/**
 * One event line: `copied`, `updated`, `conflict`, `deleted`, `mkdir` (with `bytes`), `failed`
 * (with `error`), `skipped`. A skipped line's `reason` is why it was skipped (`vanished`, `exists`,
 * `held`), `why` the action's own reason (`new`, `mirror`, …), `detail` a sentence. `scrub` is
 * applied to the sentences (`error`, `detail`): they are messages, as on stderr, and may name a
 * local path a mistyped URL made of `s3:/KEY:SECRET@…` (CliContext.scrub).
 */
export function eventLine(
  e: Exclude<SyncEvent, { kind: 'bytes' }>,
  side: SideNamer = asIs,
  scrub: (text: string) => string = (t) => t,
): Record<string, unknown> {
  const a = actionJson(e.action, side);
  if (e.kind === 'failed') return { event: 'failed', ...a, error: scrub(e.error) };
  if (e.kind === 'skipped')
    return { event: 'skipped', ...a, reason: e.reason, detail: scrub(e.detail), why: a.reason };
  const action = e.action;
  const event =
    action.op === 'copy'
      ? action.reason === 'new'
        ? 'copied'
        : action.reason === 'changed'
          ? 'updated'
          : 'conflict'
      : action.op === 'delete'
        ? 'deleted'
        : 'mkdir';
  return { event, ...a, bytes: e.bytes };
}
