import { StorageError } from '../storage/errors.js';
import { copyFile, move, moveByCopy } from '../storage/operations.js';
import type { Entry } from '../storage/types.js';
import { publicError, sessionError } from './errors.js';
import { requireFolderMovable } from './permissions.js';
import { measure, type Usage } from './quota-ledger.js';
import { isBelow } from './resolve.js';
import { type SessionContext, statOrUndefined, virtualEntry } from './session-context.js';

/**
 * `Session.rename`: within one root, the storage's own move; across two roots (a mount and the
 * home), a streamed or server-side copy, then the source goes. Mount points never move; the
 * ledger is charged before a copy into the home and credited for what leaves it.
 */
export async function renameIn(
  c: SessionContext,
  from: string,
  to: string,
  options: { replace?: boolean; signal?: AbortSignal },
): Promise<void> {
  const rf = c.resolve(from);
  const rt = c.resolve(to);
  await c.op('rename', rf, rt, async () => {
    c.refuseMountPoint(rf, 'rename');
    c.refuseMountPoint(rt, 'rename');
    if (rf.vpath === rt.vpath) return undefined;
    if (isBelow(rt.vpath, rf.vpath)) {
      throw sessionError('InvalidArgument', `cannot move ${rf.vpath} into itself (${rt.vpath})`);
    }
    c.require('rename', rf);
    c.require('rename', rt);
    const [src, dst] = await Promise.all([c.storage(rf), c.storage(rt)]);
    const entry = await src.stat(rf.path, options);
    if (entry.type === 'dir') requireFolderMovable(c.user, rf, rt);
    const target = await statOrUndefined(dst, rt.path);
    if (target && options.replace === false)
      throw sessionError('AlreadyExists', `already exists: ${rt.vpath}`);
    if (target?.type === 'file') c.require('overwrite', rt);
    const replaced: Usage =
      target?.type === 'file' ? { bytes: target.size, files: 1 } : { bytes: 0, files: 0 };
    // The storage's refusals about the target (in the way, wrong kind) name the target.
    const aboutTarget = (err: unknown) =>
      err instanceof StorageError && err.path === rt.path && rt.path !== rf.path
        ? publicError(err, rt.vpath)
        : err;
    if (rf.root === rt.root) {
      await move(src, rf.path, dst, rt.path, { signal: options.signal }).catch((err: unknown) => {
        throw aboutTarget(err);
      });
      if (rf.root.home) await c.credit(replaced);
      return entry.size;
    }
    // Across two storages: a streamed (or server-side) copy, then the source goes.
    const moved = entry.type === 'file' ? { bytes: entry.size, files: 1 } : await measure(src, rf.path);
    if (rt.root.home) {
      const q = await c.charge();
      await q.ledger.reserve(
        q.username,
        { bytes: moved.bytes - replaced.bytes, files: moved.files - replaced.files },
        q.limits,
      );
    }
    try {
      await moveByCopy(src, rf.path, dst, rt.path, { signal: options.signal });
    } catch (err) {
      if (rt.root.home)
        await c.credit({ bytes: moved.bytes - replaced.bytes, files: moved.files - replaced.files });
      throw aboutTarget(err);
    }
    if (rf.root.home) await c.credit(moved);
    return moved.bytes;
  });
}

/** `Session.copy`: one file, server-side where the storage can, the target's growth charged first. */
export async function copyIn(
  c: SessionContext,
  from: string,
  to: string,
  options: { signal?: AbortSignal },
): Promise<Entry> {
  const rf = c.resolve(from);
  const rt = c.resolve(to);
  let result: Entry | undefined;
  await c.op('copy', rf, rt, async () => {
    if (c.isTreeFolder(rt.vpath)) throw sessionError('IsADirectory', `is a folder: ${rt.vpath}`);
    c.require('download', rf);
    const [src, dst] = await Promise.all([c.storage(rf), c.storage(rt)]);
    const entry = await src.stat(rf.path, options);
    if (entry.type !== 'file') throw sessionError('IsADirectory', `is a folder: ${rf.vpath}`);
    const target = await statOrUndefined(dst, rt.path);
    c.require(target?.type === 'file' ? 'overwrite' : 'upload', rt);
    const delta: Usage =
      target?.type === 'file'
        ? { bytes: entry.size - target.size, files: 0 }
        : { bytes: entry.size, files: 1 };
    if (rt.root.home) {
      const q = await c.charge();
      await q.ledger.reserve(q.username, delta, q.limits);
    }
    try {
      result = virtualEntry(
        rt,
        await copyFile(src, rf.path, dst, rt.path, { known: entry, signal: options.signal }),
      );
    } catch (err) {
      if (rt.root.home) await c.credit(delta);
      throw err;
    }
    return entry.size;
  });
  return result as Entry;
}
