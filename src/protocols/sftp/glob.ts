/**
 * Shell wildcards for scp's source mode (there is no remote shell to expand them): `*`, `?`,
 * `[abc]`, `[a-z]`, `[!a]` / `[^a]`, `\x` for a literal x. As in a shell, a name starting with
 * `.` is matched only by a pattern starting with `.`.
 */

const GLOB = /[*?[]/;

export interface GlobParts {
  /** The folder part of the path ('.' when there is none). */
  dir: string;
  /** The last segment: the pattern. */
  pattern: string;
  /** True when the folder part has wildcards too (not expanded). */
  dirHasGlob: boolean;
}

/** The folder and pattern of a path whose last segment has wildcards; undefined when none has. */
export function globParts(path: string): GlobParts | undefined {
  const trimmed = path.replace(/(.)\/+$/, '$1');
  const i = trimmed.lastIndexOf('/');
  const pattern = trimmed.slice(i + 1);
  const dir = i < 0 ? '.' : i === 0 ? '/' : trimmed.slice(0, i);
  if (!GLOB.test(pattern)) return undefined;
  return { dir, pattern, dirHasGlob: i > 0 && GLOB.test(dir) };
}

/** True when `name` matches the shell pattern `pattern`. */
export function matchesGlob(pattern: string, name: string): boolean {
  if (name.startsWith('.') && !pattern.startsWith('.')) return false;
  return toRegExp(pattern).test(name);
}

const cache = new Map<string, RegExp>();

function toRegExp(pattern: string): RegExp {
  let re = cache.get(pattern);
  if (re) return re;
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') out += '.*';
    else if (c === '?') out += '.';
    else if (c === '\\' && i + 1 < pattern.length) out += literal(pattern[++i]!);
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 2);
      if (end < 0) {
        out += '\\[';
        continue;
      }
      let body = pattern.slice(i + 1, end);
      let negate = false;
      if (body[0] === '!' || body[0] === '^') {
        negate = true;
        body = body.slice(1);
      }
      out += `[${negate ? '^' : ''}${body.replace(/[\\\]^]/g, (m) => `\\${m}`)}]`;
      i = end;
    } else out += literal(c);
  }
  re = new RegExp(`^${out}$`, 'su');
  if (cache.size > 100) cache.clear();
  cache.set(pattern, re);
  return re;
}

function literal(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
