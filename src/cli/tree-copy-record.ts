import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { dirname, join } from 'node:path';
import { journalDir } from '../s3/upload-journal.js';
import { StorageError } from '../storage/errors.js';
import type { Entry, Storage, StoragePath } from '../storage/types.js';

/**
 * The record of a running tree copy (`ferry cp -r SRC DST`), so that the same command run again
 * after an interruption (even SIGKILL) finishes the job instead of starting a second one:
 * without it, the first run's target now exists, cp(1)'s rule sends the second run *into* it
 * (`kt/kt/…`), and the user gets two partial trees. It is one small JSON file in the state folder
 * (`$FERRY_STATE_DIR/copies/`, next to the upload journal), named by a hash of what the command
 * names (source, destination as written, endpoint); it holds the target the first run resolved.
 * Written before the first file is copied, removed when the copy succeeds; an interrupted or
 * failed copy keeps it. (A record in the destination, as rename-folder does, would cost requests
 * and would not exist for local destinations; the upload journal already lives in this folder.)
 */
export interface TreeCopyState {
  /** The source and destination as the user wrote them (for messages). */
  source: string;
  destination: string;
  /** Where the files go, as resolved by the first run (a path in the destination storage). */
  target: StoragePath;
  /** Nothing was at `target` when the first run started (so removing it undoes the copy). */
  fresh: boolean;
  started: string;
}

export class TreeCopyRecord {
  readonly file: string;

  /** `identity`: everything that makes two commands "the same command". */
  constructor(identity: unknown[], dir = copiesDir()) {
    const id = createHash('sha256').update(JSON.stringify(identity)).digest('hex');
    this.file = join(dir, `${id.slice(0, 32)}.json`);
  }

  /** The state an interrupted earlier run left, or undefined. */
  async read(): Promise<TreeCopyState | undefined> {
    let text: string;
    try {
      text = await fs.readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    try {
      const state = JSON.parse(text) as TreeCopyState;
      if (typeof state.target === 'string') return state;
    } catch {}
    // A torn write (it is written by rename, so only a foreign edit): say so rather than guess.
    throw new StorageError('InvalidArgument', `unreadable record of an interrupted copy: ${this.file}`);
  }

  async write(state: TreeCopyState): Promise<void> {
    await fs.mkdir(dirname(this.file), { recursive: true });
    const tmp = `${this.file}.${process.pid}.tmp`;
    await fs.writeFile(tmp, JSON.stringify(state));
    await fs.rename(tmp, this.file);
  }

  async remove(): Promise<void> {
    await fs.rm(this.file, { force: true });
  }
}

/** `copies/` in the state folder (see journalDir: `$FERRY_STATE_DIR`, XDG, ~/.local/state/ferry). */
export function copiesDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(dirname(journalDir(env)), 'copies');
}

/**
 * True when `to` already holds a complete copy of the source file `entry`: a file of the same size
 * and mtime (to the millisecond, ±1 for S3's float seconds). A listing's mtime may not be the one
 * a copy records (S3 listings give LastModified, a copy keeps X-Amz-Meta-Mtime), so when only the
 * time differs the source is asked with `stat`.
 */
export async function alreadyCopied(
  src: Storage,
  entry: Entry,
  dst: Storage,
  to: StoragePath,
): Promise<boolean> {
  let there: Entry;
  try {
    there = await dst.stat(to);
  } catch (err) {
    if (StorageError.is(err, 'NotFound')) return false;
    throw err;
  }
  if (there.type !== 'file' || there.size !== entry.size) return false;
  const same = (a: Date, b: Date) => Math.abs(a.getTime() - b.getTime()) <= 1;
  if (same(there.mtime, entry.mtime)) return true;
  const st = await src.stat(entry.path);
  return st.size === there.size && same(st.mtime, there.mtime);
}
