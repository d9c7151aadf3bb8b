import { realpath, stat } from 'node:fs/promises';
import nodePath from 'node:path';

/**
 * A local folder as the disk resolves it: symlinks followed in the part that exists (a folder
 * reached through a link to another folder is that folder), the rest appended.
 */
export async function realRoot(path: string): Promise<string> {
  const rest: string[] = [];
  for (let p = nodePath.resolve(path); ; p = nodePath.dirname(p)) {
    try {
      return nodePath.join(await realpath(p), ...rest.reverse());
    } catch {
      if (nodePath.dirname(p) === p) return nodePath.resolve(path);
      rest.push(nodePath.basename(p));
    }
  }
}

/** One local folder (absolute, resolved) is the other or inside it, by their paths. */
export function localOverlap(a: string, b: string): boolean {
  const within = (x: string, y: string) =>
    x === y || x.startsWith(y.endsWith(nodePath.sep) ? y : y + nodePath.sep);
  return within(a, b) || within(b, a);
}

/**
 * `inner` (resolved) is the folder `outer` or inside it by identity: it or one of its folders up
 * to `/` is `outer`'s (device, inode). Catches what paths do not show: a bind mount, one file
 * system mounted twice. Parts that do not exist yet are skipped; a stat per folder up the path.
 */
async function insideByIdentity(inner: string, outer: string): Promise<boolean> {
  const target = await stat(outer).catch(() => undefined);
  if (!target) return false;
  for (let p = inner; ; p = nodePath.dirname(p)) {
    const s = await stat(p).catch(() => undefined);
    if (s && s.dev === target.dev && s.ino === target.ino) return true;
    if (nodePath.dirname(p) === p) return false;
  }
}

/** Two local folders are one, or one is inside the other: by path (symlinks resolved) or identity. */
export async function localFoldersOverlap(a: string, b: string): Promise<boolean> {
  const [x, y] = await Promise.all([realRoot(a), realRoot(b)]);
  return localOverlap(x, y) || (await insideByIdentity(x, y)) || (await insideByIdentity(y, x));
}
