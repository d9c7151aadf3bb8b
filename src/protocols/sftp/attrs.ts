import type { Attributes } from 'ssh2';
import type { Entry } from '../../storage/types.js';

const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
export const FILE_MODE = S_IFREG | 0o644;
export const DIR_MODE = S_IFDIR | 0o755;

/**
 * SFTP attributes of an entry: size, uid/gid 0 (Ferry users have no numeric ids), 0644 files and
 * 0755 folders, atime = mtime (S3 keeps no access time). Times are whole seconds (SFTP v3).
 */
export function attrsOf(entry: Pick<Entry, 'type' | 'size' | 'mtime'>): Attributes {
  const t = Math.floor(entry.mtime.getTime() / 1000);
  return {
    mode: entry.type === 'dir' ? DIR_MODE : FILE_MODE,
    uid: 0,
    gid: 0,
    size: entry.type === 'dir' ? 0 : entry.size,
    atime: t,
    mtime: t,
  };
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const HALF_YEAR_MS = 182 * 24 * 3600 * 1000;

/**
 * The `ls -l` line OpenSSH's sftp prints for `ls -l` (its own format, sftp-common.c ls_file):
 * mode, links, owner, group, size, date (time within six months, else the year; UTC), name.
 */
export function longname(entry: Pick<Entry, 'type' | 'size' | 'mtime'>, name: string, owner: string): string {
  const mode = entry.type === 'dir' ? 'drwxr-xr-x' : '-rw-r--r--';
  const who = owner.length > 8 ? owner.slice(0, 8) : owner.padEnd(8);
  const size = String(entry.type === 'dir' ? 0 : entry.size).padStart(8);
  return `${mode}    1 ${who} ${who} ${size} ${lsDate(entry.mtime)} ${name}`;
}

function lsDate(d: Date, now = Date.now()): string {
  const month = MONTHS[d.getUTCMonth()];
  const day = String(d.getUTCDate()).padStart(2);
  const t = d.getTime();
  if (t > now - HALF_YEAR_MS && t < now + HALF_YEAR_MS) {
    const hh = String(d.getUTCHours()).padStart(2, '0');
    const mm = String(d.getUTCMinutes()).padStart(2, '0');
    return `${month} ${day} ${hh}:${mm}`;
  }
  return `${month} ${day}  ${d.getUTCFullYear()}`;
}

/** Date of SFTP seconds. */
export function dateOf(seconds: number): Date {
  return new Date(seconds * 1000);
}
