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
  const include = filters?.include ?? [];
  const exclude = filters?.exclude ?? [];
  if (include.length === 0 && exclude.length === 0) return () => true;
  const options = { dot: true, basename: true };
  const inc = include.length > 0 ? picomatch(include, options) : undefined;
  const exc = exclude.length > 0 ? picomatch(exclude, options) : undefined;
  return (rel) => !exc?.(rel) && (inc === undefined || inc(rel));
}
