import { promises as fs } from 'node:fs';
import * as nodePath from 'node:path';
import { joinPath } from '../paths.js';
import type { AbortUnfinishedOptions, StoragePath } from '../types.js';

import { PARTIAL_NAME as PARTIAL } from './write-handle.js';

/**
 * LocalStorage's `abortUnfinishedWrites`: remove the partial files (`.ferry-partial-*`) below the
 * folder at `abs` (storage path `path`) last written at or after `since`, for files `only`
 * accepts. A write removes its partial file when it fails or is aborted, but a process killed
 * with SIGKILL can't: listings hide such files, so nobody would ever see or remove them. A name
 * cut at 255 bytes can't be matched to its file and is left alone.
 */
export async function removePartialFiles(
  abs: string,
  path: StoragePath,
  options: AbortUnfinishedOptions,
): Promise<number> {
  let removed = 0;
  let names: string[];
  try {
    names = await fs.readdir(abs, { recursive: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw err;
  }
  for (const rel of names) {
    const name = nodePath.basename(rel);
    const m = PARTIAL.exec(name);
    if (!m) continue;
    const file = joinPath(
      path,
      nodePath.dirname(rel) === '.' ? '' : nodePath.dirname(rel),
      name.slice(m[0].length),
    );
    if (options.only && !options.only(file.normalize('NFC'))) continue;
    const full = nodePath.join(abs, rel);
    const st = await fs.lstat(full).catch(() => undefined);
    if (!st?.isFile() || st.mtime < options.since) continue;
    await fs.rm(full, { force: true });
    removed++;
  }
  return removed;
}
