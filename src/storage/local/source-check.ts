import { type BigIntStats, statSync } from 'node:fs';
import { StorageError } from '../errors.js';
import type { StoragePath } from '../types.js';

/**
 * What identifies a local file's content as opened: inode, size, mtime and ctime to the
 * nanosecond (ctime also catches a rewrite that put the old mtime back, `touch -d`/`cp -p`).
 */
export type OpenedFile = Pick<BigIntStats, 'dev' | 'ino' | 'size' | 'mtimeNs' | 'ctimeNs'>;

/**
 * A check that the file at `abs` is still the one opened as `opened`: the same inode (not
 * replaced by a rename), not written to (size, mtime, ctime). Throws a Conflict naming `path`
 * otherwise — also when it is gone. Called after the last byte is read and before the copy is
 * committed: a file rewritten during its upload must not be stored torn or stale (a later sync
 * would take the upload's time, after the rewrite, for the file's and skip it for ever).
 * One stat of the path (a few µs): the descriptor may already be closed by the stream.
 */
export function unchangedCheck(abs: string, path: StoragePath, opened: OpenedFile): () => Promise<void> {
  return async () => {
    let now: BigIntStats | undefined;
    try {
      now = statSync(abs, { bigint: true });
    } catch {
      now = undefined;
    }
    if (
      now === undefined ||
      now.ino !== opened.ino ||
      now.dev !== opened.dev ||
      now.size !== opened.size ||
      now.mtimeNs !== opened.mtimeNs ||
      now.ctimeNs !== opened.ctimeNs
    ) {
      throw changedWhileRead(path);
    }
  };
}

/** The error for a source file that changed while it was read (nothing was stored). */
export function changedWhileRead(path: StoragePath): StorageError {
  return new StorageError('Conflict', `/${path} changed while it was read: copy it again`, { path });
}
