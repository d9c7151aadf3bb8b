import type { Entry } from '../storage/types.js';

/** Bytes as a short human string (1.5 KiB, 12 MiB). */
export function humanBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

/** Parse sizes such as `5GiB`, `64M`, `1048576`. */
export function parseBytes(s: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?b?)\s*$/i.exec(s);
  if (!m) throw new Error(`not a size: ${s}`);
  const power = ' kmgtp'.indexOf((m[2] || ' ').toLowerCase());
  return Math.round(Number(m[1]) * 1024 ** power);
}

function time(d: Date): string {
  return d.toISOString().replace('T', ' ').slice(0, 19);
}

/** Shown instead of a folder's time when nobody knows it (an S3 prefix without a marker). */
export const UNKNOWN_TIME = '-'.padEnd(19);

/**
 * One `ls -l` line: size, time (UTC), name; folders end with `/`. A folder dated at the epoch has
 * no known time (the Storage contract's convention): it shows `-`, not 1970-01-01.
 */
export function longLine(e: Entry, name: string, human: boolean): string {
  const size = e.type === 'dir' ? '-' : human ? humanBytes(e.size) : String(e.size);
  const when = e.type === 'dir' && e.mtime.getTime() === 0 ? UNKNOWN_TIME : time(e.mtime);
  return `${size.padStart(human ? 9 : 14)}  ${when}  ${name}${e.type === 'dir' ? '/' : ''}`;
}

export function entryJson(e: Entry): Record<string, unknown> {
  return {
    path: e.path,
    name: e.name,
    type: e.type,
    size: e.size,
    mtime: e.mtime.toISOString(),
    ...(e.contentType !== undefined && { contentType: e.contentType }),
    ...(e.etag !== undefined && { etag: e.etag }),
    ...(e.storageClass !== undefined && { storageClass: e.storageClass }),
    ...(e.metadata !== undefined && { metadata: e.metadata }),
  };
}
