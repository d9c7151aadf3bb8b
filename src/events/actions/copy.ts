import { resolve as resolveFs } from 'node:path';
import type { z } from 'zod';
import type { StorageTarget } from '../../accounts/model.js';
import type { EffectiveUser } from '../../accounts/types.js';
import { Tree } from '../../session/resolve.js';
import { StorageError } from '../../storage/errors.js';
import { copyFile } from '../../storage/operations.js';
import { normalizePath } from '../../storage/paths.js';
import type { Storage } from '../../storage/types.js';
import type { copyActionSchema } from '../model.js';
import { type ActionContext, fill, PermanentError } from './template.js';

export type CopyAction = z.output<typeof copyActionSchema>;

export interface CopyDeps {
  /** The user's merged settings (home and mounts), to find the event's file. */
  effective(username: string): Promise<EffectiveUser>;
  /** The storage of a target (the session layer's pool: cached clients). */
  storage(target: StorageTarget): Promise<Storage>;
}

/**
 * Copy (or move) the event's file — at `targetPath` after a rename or copy, else at `path` — to
 * `action.path` under `action.to`, through the Storage contract's copyFile (server-side when both
 * are on one S3 account). It reads the file as it is now: a file replaced since the event is
 * copied in its new state; one removed since fails (retried, then dead). A move removes the
 * source after the copy; the user's quota ledger is not told (recompute it if it matters).
 */
export async function copyAction(action: CopyAction, ctx: ActionContext, deps: CopyDeps): Promise<void> {
  const vpath = ctx.event.targetPath ?? ctx.event.path;
  if (!vpath) throw new PermanentError(`${action.type}: the event names no file`);
  const user = await deps.effective(ctx.event.username);
  const resolved = new Tree(user).resolve(vpath);
  if (resolved.path === '') throw new PermanentError(`${action.type}: ${vpath} is a home or mount root`);
  let to: string;
  try {
    to = normalizePath(fill(action.path, ctx).replace(/^\/+/, ''));
  } catch (err) {
    throw new PermanentError(`${action.type}: path: ${(err as Error).message}`);
  }
  if (to === '') throw new PermanentError(`${action.type}: path: names no file`);
  // A rule sending the file where it already is would copy it onto itself and then (a move)
  // remove it: refused, the file is kept.
  if (where(resolved.root.target, resolved.path) === where(action.to, to))
    throw new PermanentError(`${action.type}: the target is the file itself (${vpath})`);
  const src = await deps.storage(resolved.root.target);
  const dst = await deps.storage(action.to);
  try {
    await copyFile(src, resolved.path, dst, to, { signal: ctx.signal });
    if (action.type === 'move') await src.remove(resolved.path);
  } catch (err) {
    if (StorageError.is(err, 'NotFound')) throw new Error(`${action.type}: ${vpath} is not there (any more)`);
    throw err;
  }
}

/**
 * One string per place a file can be: a local file's absolute path, an S3 connection and the key
 * under it. (Two connections naming the same bucket are not recognised as one.)
 */
function where(target: StorageTarget, path: string): string {
  if (target.type === 'local') return `local:${resolveFs(target.path, path)}`;
  const prefix = target.prefix === '' ? '' : normalizePath(target.prefix);
  return `s3:${target.connection}:${[prefix, path].filter((p) => p !== '').join('/')}`;
}
