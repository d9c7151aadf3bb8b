import { realpath } from 'node:fs/promises';
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

/** One local folder (absolute, resolved) is the other or inside it. */
export function localOverlap(a: string, b: string): boolean {
  const within = (x: string, y: string) =>
    x === y || x.startsWith(y.endsWith(nodePath.sep) ? y : y + nodePath.sep);
  return within(a, b) || within(b, a);
}
