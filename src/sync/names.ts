import { baseName, joinPath, parentOf } from '../storage/paths.js';
import type { StoragePath } from '../storage/types.js';

/**
 * The `n`th other name for `path`, as desktop file managers make it: `dir/photo.jpg` →
 * `dir/photo (1).jpg`; a name without extension (or a dot-file) gets the suffix at its end:
 * `.bashrc` → `.bashrc (1)`.
 */
export function suffixedName(path: StoragePath, n: number): StoragePath {
  const name = baseName(path);
  const dot = name.lastIndexOf('.');
  const named = dot > 0 ? `${name.slice(0, dot)} (${n})${name.slice(dot)}` : `${name} (${n})`;
  return joinPath(parentOf(path), named);
}
