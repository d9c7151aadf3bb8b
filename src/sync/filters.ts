import picomatch from 'picomatch';
import type { SyncOptions } from './types.js';

/**
 * `--include` / `--exclude` globs (picomatch), matched against a file's path relative to the
 * side's root. A pattern without `/` matches the base name at any depth (`*.jpg`); with `/` it
 * matches the whole relative path (`logs/**`). A file is taken when it matches no exclude and,
 * if any include is given, at least one include. Both sides are filtered alike, so a mirror never
 * deletes an excluded file at the destination.
 */
export function pathFilter(filters: SyncOptions['filters']): (rel: string) => boolean {
  const include = (filters?.include ?? []).map(matcher);
  const exclude = (filters?.exclude ?? []).map(matcher);
  if (include.length === 0 && exclude.length === 0) return () => true;
  return (rel) => !exclude.some((m) => m(rel)) && (include.length === 0 || include.some((m) => m(rel)));
}

function matcher(pattern: string): (rel: string) => boolean {
  const isMatch = picomatch(pattern, { dot: true });
  if (pattern.includes('/')) return isMatch;
  return (rel) => isMatch(rel.slice(rel.lastIndexOf('/') + 1));
}
