import { describe, expect, it } from 'vitest';
import { actionJson, eventLine } from '../../src/cli/sync-json.js';
import type { Entry } from '../../src/storage/types.js';
import { sideLabel } from '../../src/sync/bisync-plan.js';
import type { SyncAction } from '../../src/sync/types.js';

/**
 * The `--json` lines of `ferry sync` (src/cli/sync-json.ts), one shape for one-way (sides as
 * `src` / `dst`) and two-way (`path1` / `path2`, as sync-bisync.ts passes `sideLabel`).
 */

const entry: Entry = { path: 'a.txt', name: 'a.txt', type: 'file', size: 5, mtime: new Date(0) };
const copy: SyncAction = { op: 'copy', from: 'src', path: 'a.txt', to: 'a.txt', entry, reason: 'new' };
const del: SyncAction = { op: 'delete', on: 'dst', path: 'a.txt', entry, reason: 'mirror' };

describe.each([
  { mode: 'one-way', side: undefined, src: 'src', dst: 'dst' },
  { mode: 'two-way', side: sideLabel, src: 'path1', dst: 'path2' },
])('sync --json, $mode', ({ side, src, dst }) => {
  it('a skipped line: reason is why it was skipped, why the action reason, detail a sentence', () => {
    const line = eventLine(
      { kind: 'skipped', action: copy, reason: 'exists', detail: 'a file is there' },
      side,
    );
    expect(line).toEqual({
      event: 'skipped',
      op: 'copy',
      from: src,
      path: 'a.txt',
      to: 'a.txt',
      reason: 'exists',
      why: 'new',
      detail: 'a file is there',
      size: 5,
    });
    const held = eventLine({ kind: 'skipped', action: del, reason: 'held', detail: 'a copy failed' }, side);
    expect(held).toMatchObject({ event: 'skipped', op: 'delete', on: dst, reason: 'held', why: 'mirror' });
  });

  it('done, failed and plan lines name the sides the same way', () => {
    expect(eventLine({ kind: 'done', action: copy, bytes: 5 }, side)).toEqual({
      event: 'copied',
      op: 'copy',
      from: src,
      path: 'a.txt',
      to: 'a.txt',
      reason: 'new',
      size: 5,
      bytes: 5,
    });
    expect(eventLine({ kind: 'done', action: { ...copy, reason: 'changed' }, bytes: 5 }, side)).toMatchObject(
      {
        event: 'updated',
      },
    );
    expect(
      eventLine({ kind: 'done', action: { ...copy, reason: 'conflict' }, bytes: 5 }, side),
    ).toMatchObject({
      event: 'conflict',
    });
    expect(eventLine({ kind: 'done', action: del, bytes: 0 }, side)).toMatchObject({
      event: 'deleted',
      on: dst,
    });
    expect(
      eventLine({ kind: 'done', action: { op: 'mkdir', on: 'dst', path: 'd' }, bytes: 0 }, side),
    ).toEqual({
      event: 'mkdir',
      op: 'mkdir',
      on: dst,
      path: 'd',
      bytes: 0,
    });
    expect(eventLine({ kind: 'failed', action: del, error: 'AccessDenied' }, side)).toEqual({
      event: 'failed',
      op: 'delete',
      on: dst,
      path: 'a.txt',
      reason: 'mirror',
      size: 5,
      error: 'AccessDenied',
    });
    expect(actionJson(copy, side)).toEqual({
      op: 'copy',
      from: src,
      path: 'a.txt',
      to: 'a.txt',
      reason: 'new',
      size: 5,
    });
  });
});
