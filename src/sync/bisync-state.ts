import { createHash } from 'node:crypto';
import { mkdir, open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { StorageError } from '../storage/errors.js';
import type { Entry, StoragePath } from '../storage/types.js';
import type { SideName } from './types.js';

/**
 * The saved state of a two-way sync pair (docs/sync.md "Two-way sync"): each side's listing as
 * it was at the end of the last successful run, per file: size, time and (where the side lists
 * one) ETag. A file changed on a side when its listing now differs from what is saved for that
 * side. Paths are relative to the side's root. No secret is ever in it.
 */
export interface SideRecord {
  size: number;
  /** The listed mtime, in milliseconds since the epoch. */
  mtime: number;
  etag?: string;
}

export type PathRecord = Partial<Record<SideName, SideRecord>>;

export interface BisyncState {
  version: 1;
  /** The two locations as messages show them (never with a secret), for whoever reads the file. */
  path1: string;
  path2: string;
  /** When the run that wrote it ended (ISO 8601). */
  savedAt: string;
  files: Map<StoragePath, PathRecord>;
}

export function recordOf(entry: Entry): SideRecord {
  const r: SideRecord = { size: entry.size, mtime: entry.mtime.getTime() };
  if (entry.etag) r.etag = entry.etag;
  return r;
}

/**
 * Whether a file changed on one side since the saved state: the size or the time differs, or
 * the ETag when both the saved record and the listing have one.
 */
export function changedSince(saved: SideRecord, now: Entry): boolean {
  if (saved.size !== now.size || saved.mtime !== now.mtime.getTime()) return true;
  return saved.etag !== undefined && now.etag !== undefined && saved.etag !== now.etag;
}

/** Where a pair's state is kept: a file for the CLI; a server's job could keep it in its store. */
export interface BisyncStateStore {
  /** The state of the last successful run; undefined when there is none (first run: --resync). */
  load(): Promise<BisyncState | undefined>;
  /** Replace the state, atomically: a crash leaves the old state or the new one, never a mix. */
  save(state: BisyncState): Promise<void>;
  /** Hold the pair for one run: a second run of the same pair meanwhile is refused. */
  lock(): Promise<() => Promise<void>>;
  /** Where the state lives, for messages. */
  readonly where: string;
}

/** `$XDG_STATE_HOME/ferry/bisync`, else `~/.local/state/ferry/bisync`. */
export function defaultStateDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_STATE_HOME || join(homedir(), '.local', 'state');
  return join(base, 'ferry', 'bisync');
}

/**
 * The file name of a pair's state: a SHA-256 of the two locations' identities (which endpoint,
 * bucket and folder; never credentials), in the order given: `A B` and `B A` are different pairs.
 */
export function pairKey(identity1: string, identity2: string): string {
  return createHash('sha256')
    .update(JSON.stringify([identity1, identity2]))
    .digest('hex')
    .slice(0, 32);
}

interface StateFile {
  version: 1;
  path1: string;
  path2: string;
  savedAt: string;
  files: Record<string, PathRecord>;
}

/** The state of a pair kept in `<dir>/<key>.json` (lock: `<key>.lock`). */
export function fileStateStore(dir: string, key: string): BisyncStateStore {
  const file = join(dir, `${key}.json`);
  const lockFile = join(dir, `${key}.lock`);
  return {
    where: file,
    async load() {
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw err;
      }
      let parsed: StateFile;
      try {
        parsed = JSON.parse(text) as StateFile;
      } catch {
        throw new StorageError(
          'InvalidArgument',
          `the saved two-way sync state ${file} is not valid JSON: run again with --resync`,
        );
      }
      if (parsed.version !== 1 || typeof parsed.files !== 'object' || parsed.files === null)
        throw new StorageError(
          'InvalidArgument',
          `the saved two-way sync state ${file} is not one this version reads: run again with --resync`,
        );
      return { ...parsed, files: new Map(Object.entries(parsed.files)) };
    },
    async save(state) {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const out: StateFile = { ...state, files: Object.fromEntries(state.files) };
      const tmp = `${file}.${process.pid}.tmp`;
      await writeFile(tmp, JSON.stringify(out), { mode: 0o600 });
      await rename(tmp, file);
    },
    async lock() {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      let handle: Awaited<ReturnType<typeof open>>;
      try {
        handle = await open(lockFile, 'wx', 0o600);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST')
          throw new StorageError(
            'Conflict',
            `another two-way sync of this pair is running (lock ${lockFile}); if none is, delete that file`,
          );
        throw err;
      }
      await handle.writeFile(`${process.pid}\n`);
      await handle.close();
      return () => rm(lockFile, { force: true });
    },
  };
}

/** A state kept in memory (tests, and callers that keep it elsewhere). */
export function memoryStateStore(initial?: BisyncState): BisyncStateStore & { state?: BisyncState } {
  let locked = false;
  const store: BisyncStateStore & { state?: BisyncState } = {
    state: initial,
    where: 'memory',
    async load() {
      return store.state;
    },
    async save(state) {
      store.state = state;
    },
    async lock() {
      if (locked) throw new StorageError('Conflict', 'another two-way sync of this pair is running');
      locked = true;
      return async () => {
        locked = false;
      };
    },
  };
  return store;
}
