import type { PermissionName, StorageTarget } from '../accounts/model.js';
import type { EffectiveUser } from '../accounts/types.js';
import { sessionError } from './errors.js';

/**
 * "Where does it go?": the one place that turns a client's path into a storage and a path in it.
 *
 * A virtual path is what the client sent. It is resolved lexically: `.` dropped, `..` takes off
 * the last segment but never climbs above `/` (the chroot: `/../../etc` is `/etc` inside the
 * user's tree), empty segments collapse, relative paths start at `/`, names become NFC. NUL and every other
 * control character are refused (InvalidArgument). Nothing is percent-decoded here: a protocol
 * decodes its own encoding first, so `%2e%2e` reaching this point is a file named `%2e%2e`.
 *
 * The user's tree is their home at `/` with mounts laid over it; the mount with the longest path
 * that is the virtual path or one of its ancestors wins (`/shared/docs` over `/shared` over `/`).
 */

/** One storage root of the user's tree: the home (`/`) or a mount. */
export interface TreeRoot {
  /** Virtual path of the root: `/` for the home, the mount point otherwise. */
  path: string;
  target: StorageTarget;
  readOnly: boolean;
  /** Permissions inside a mount when the mount sets them (else the user's apply). */
  permissions?: PermissionName[];
  /** True for the home. */
  home: boolean;
}

export interface Resolved {
  /** The normalised virtual path (`/a/b`, `/` for the root). */
  vpath: string;
  root: TreeRoot;
  /** The path inside the root's storage ('' for the root itself). */
  path: string;
}

// C0 controls, DEL and C1 controls: never part of a name a user meant.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** Normalise a client path into `/a/b` form, lexically, never above `/`. */
export function normalizeVirtual(input: string): string {
  if (typeof input !== 'string') throw sessionError('InvalidArgument', 'path must be a string');
  if (CONTROL.test(input)) {
    throw sessionError('InvalidArgument', `path contains a control character: ${JSON.stringify(input)}`);
  }
  const out: string[] = [];
  // NFC, as the storage layer normalises names (paths.ts): a name spelled in NFD must meet the
  // same mounts and permissions as the file it reaches.
  for (const segment of input.normalize('NFC').split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') out.pop();
    else out.push(segment);
  }
  return `/${out.join('/')}`;
}

/** Parent of a normalised virtual path (`/` for `/` itself). */
export function virtualParent(vpath: string): string {
  const i = vpath.lastIndexOf('/');
  return i <= 0 ? '/' : vpath.slice(0, i);
}

/** True when `vpath` is `ancestor` or below it (both normalised). */
export function isBelow(vpath: string, ancestor: string): boolean {
  return ancestor === '/' || vpath === ancestor || vpath.startsWith(`${ancestor}/`);
}

/** Replace `%username%` in a target's prefix or folder. */
function forUser(target: StorageTarget, username: string): StorageTarget {
  return target.type === 's3'
    ? { ...target, prefix: target.prefix.replaceAll('%username%', username) }
    : { ...target, path: target.path.replaceAll('%username%', username) };
}

/** The user's tree: home and mounts, resolving virtual paths. Built once per session. */
export class Tree {
  readonly roots: TreeRoot[];

  constructor(user: EffectiveUser) {
    const home: TreeRoot = {
      path: '/',
      target: forUser(user.home, user.username),
      readOnly: false,
      home: true,
    };
    const mounts = user.mounts.map(
      (m): TreeRoot => ({
        path: normalizeVirtual(m.path),
        target: forUser(m.target, user.username),
        readOnly: m.readOnly,
        permissions: m.permissions,
        home: false,
      }),
    );
    // Longest first: the first root containing a path is the most specific one.
    this.roots = [...mounts.filter((m) => m.path !== '/'), home].sort(
      (a, b) => b.path.length - a.path.length,
    );
  }

  get home(): TreeRoot {
    return this.roots[this.roots.length - 1] as TreeRoot;
  }

  resolve(input: string): Resolved {
    const vpath = normalizeVirtual(input);
    const root = this.roots.find((r) => isBelow(vpath, r.path)) as TreeRoot;
    const path = root.path === '/' ? vpath.slice(1) : vpath.slice(root.path.length + 1);
    return { vpath, root, path };
  }

  /** True when `vpath` is a mount point. */
  isMountPoint(vpath: string): boolean {
    return vpath !== '/' && this.roots.some((r) => r.path === vpath);
  }

  /** True when a mount point lies strictly below `vpath` (it can't be removed or moved then). */
  hasMountBelow(vpath: string): boolean {
    return this.roots.some((r) => r.path !== vpath && r.path !== '/' && isBelow(r.path, vpath));
  }

  /**
   * Names that must show as folders in the listing of `vpath`: the next segment of every mount
   * point below it (`/shared/docs` shows `shared` in `/` and `docs` in `/shared`).
   */
  virtualChildren(vpath: string): string[] {
    const names = new Set<string>();
    for (const r of this.roots) {
      if (r.path === '/' || r.path === vpath || !isBelow(r.path, vpath)) continue;
      const rest = r.path.slice(vpath === '/' ? 1 : vpath.length + 1);
      names.add(rest.split('/')[0] as string);
    }
    return [...names];
  }
}
