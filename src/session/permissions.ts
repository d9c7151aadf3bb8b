import type { PermissionName } from '../accounts/model.js';
import type { EffectiveUser } from '../accounts/types.js';
import { sessionError } from './errors.js';
import { isBelow, normalizeVirtual, type Resolved, type Tree, virtualParent } from './resolve.js';

/**
 * "May this user do this here?", answered in one place (SFTPGo's rules):
 *
 * - The permissions of a folder are those of the most specific entry of `user.permissions` whose
 *   path is the folder or one of its ancestors; inside a mount that sets `permissions`, the mount's
 *   list counts as an entry at the mount point (a user entry deeper inside the mount still wins).
 * - An operation on a name is governed by the folder that contains it (creating, replacing,
 *   deleting, renaming `/a/b` asks `/a`); listing a folder asks the folder itself.
 * - A read-only mount refuses every change below its mount point, whatever the permissions say.
 *
 * | operation                        | permission                                         |
 * |----------------------------------|----------------------------------------------------|
 * | stat, list                       | `list` (stat: of the parent folder)               |
 * | read, openRead, hash             | `download`                                         |
 * | write / openWrite of a new file  | `upload`                                           |
 * | of an existing file (any mode: truncate, append, resume) | `overwrite`                 |
 * | remove, rmdir                    | `delete`                                           |
 * | rename                           | `rename` at the source and the target (+ `overwrite` at the target when it replaces a file); a folder with a permission entry at or below it, or moved where one lies at or below the target, is refused (its files would change permissions: SFTPGo's rule) |
 * | mkdir                            | `mkdir`                                            |
 * | setModTime                       | `set-times`                                        |
 * | copy                             | `download` at the source, `upload`/`overwrite` at the target |
 *
 * Append: SFTPGo's rule is kept — appending to (or resuming) an existing file changes it, so it
 * needs `overwrite`; a user with `upload` alone can create files but never change one afterwards
 * (write-once). Appending to a file that does not exist yet creates it: `upload`.
 */

const CHANGES: ReadonlySet<PermissionName> = new Set([
  'upload',
  'overwrite',
  'delete',
  'rename',
  'mkdir',
  'set-times',
]);

/** The permissions the user has in the folder `folder` (a normalised virtual path). */
export function permissionsIn(user: EffectiveUser, tree: Tree, folder: string): ReadonlySet<PermissionName> {
  let best: { path: string; perms: readonly string[] } | undefined;
  const consider = (path: string, perms: readonly string[]) => {
    if (!isBelow(folder, path)) return;
    if (!best || path.length > best.path.length) best = { path, perms };
  };
  // Mounts first: a user entry at the same path as a mount's own list does not override it.
  for (const r of tree.roots) if (r.permissions && !r.home) consider(r.path, r.permissions);
  for (const [path, perms] of Object.entries(user.permissions)) consider(normalizeVirtual(path), perms);
  const perms = best?.perms ?? [];
  return new Set<PermissionName>(
    perms.includes('*')
      ? ['list', 'download', 'upload', 'overwrite', 'delete', 'rename', 'mkdir', 'set-times']
      : (perms as PermissionName[]),
  );
}

/**
 * Throw PermissionDenied unless the user has `perm` for `at` (a resolved name: checked in its
 * parent folder; `self`: checked in `at` itself, for listing a folder). The message names the
 * permission and the virtual path only: never a bucket, prefix or IAM detail.
 */
export function requirePermission(
  user: EffectiveUser,
  tree: Tree,
  perm: PermissionName,
  at: Resolved,
  self = false,
): void {
  if (CHANGES.has(perm) && at.root.readOnly) {
    throw sessionError(
      'PermissionDenied',
      `permission denied: ${at.root.path} is read-only (${perm} ${at.vpath})`,
      {
        path: at.vpath,
      },
    );
  }
  const folder = self ? at.vpath : virtualParent(at.vpath);
  if (!permissionsIn(user, tree, folder).has(perm)) {
    throw sessionError('PermissionDenied', `permission denied: ${perm} at ${at.vpath}`, { path: at.vpath });
  }
}

/**
 * Refuse moving the folder `from` to `to` when a permission entry of the user lies at or below
 * either: the files inside would move from under that entry (a read-only `/locked` renamed to
 * `/free` becomes deletable) or come under one the rename was not checked against.
 */
export function requireFolderMovable(user: EffectiveUser, from: Resolved, to: Resolved): void {
  for (const path of Object.keys(user.permissions)) {
    const p = normalizeVirtual(path);
    if (p === '/') continue;
    for (const at of [from, to]) {
      if (isBelow(p, at.vpath)) {
        throw sessionError(
          'PermissionDenied',
          `permission denied: rename ${from.vpath} (${p} has permissions of its own)`,
          { path: from.vpath },
        );
      }
    }
  }
}
