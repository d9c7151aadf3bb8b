import { sql } from 'kysely';
import type { Store } from '../db/database.js';
import { nowIso } from '../db/database.js';
import { StorageError } from '../storage/errors.js';
import type { Storage } from '../storage/types.js';
import { sessionError } from './errors.js';

export interface Usage {
  bytes: number;
  files: number;
}

export interface QuotaLimits {
  bytes?: number;
  files?: number;
}

/**
 * The quota ledger: what each user's home holds, one row per user in `quota_usage`. Every node
 * changes it only with single UPDATE statements whose arithmetic the database does
 * (`bytes = bytes + delta`), so nodes sharing one PostgreSQL never overwrite each other's
 * counts, and a reservation that would cross the limit is refused by the same statement that
 * would make it (`… where bytes + delta <= limit`): two nodes can't both take the last bytes.
 *
 * The session layer reserves a write's delta (new size − replaced size, +1 file for a new one)
 * just before the write's final close, and gives it back if the close fails; deletes credit.
 * `recompute` sets the row from what is really stored (after a crash between close and credit).
 */
export class QuotaLedger {
  /** Per-file chains of `serialize` (this node). */
  private readonly chains = new Map<string, Promise<unknown>>();

  constructor(private readonly store: Store) {}

  /**
   * Run `fn` after every earlier `fn` of the same `username` and `path` (on this node) ended.
   * A write's "what does it replace → reserve → close" and a delete's "stat → remove → credit"
   * run under it: two of them racing on one file would otherwise both count the same old size
   * (six empty overwrites of a 900 KiB file credited 5.4 MiB that was never there).
   */
  async serialize<T>(username: string, path: string, fn: () => Promise<T>): Promise<T> {
    const key = `${username}\u0000${path}`;
    const run = (this.chains.get(key) ?? Promise.resolve()).catch(() => {}).then(fn);
    const tail = run.catch(() => {});
    this.chains.set(key, tail);
    try {
      return await run;
    } finally {
      if (this.chains.get(key) === tail) this.chains.delete(key);
    }
  }

  async usage(username: string): Promise<Usage> {
    const row = await this.store.db
      .selectFrom('quota_usage')
      .select(['bytes', 'files'])
      .where('username', '=', username)
      .executeTakeFirst();
    return { bytes: Number(row?.bytes ?? 0), files: Number(row?.files ?? 0) };
  }

  /**
   * Take `delta` if it keeps the user within `limits`, atomically. A delta that is not an
   * increase (a smaller overwrite) is always taken. QuotaExceeded (naming what is over) when not.
   */
  async reserve(username: string, delta: Usage, limits: QuotaLimits): Promise<void> {
    await this.ensureRow(username);
    let q = this.store.db
      .updateTable('quota_usage')
      .set({
        bytes: sql<number>`bytes + ${delta.bytes}`,
        files: sql<number>`files + ${delta.files}`,
        updated_at: nowIso(),
      })
      .where('username', '=', username);
    if (limits.bytes !== undefined && delta.bytes > 0)
      q = q.where(sql<boolean>`bytes + ${delta.bytes} <= ${limits.bytes}`);
    if (limits.files !== undefined && delta.files > 0)
      q = q.where(sql<boolean>`files + ${delta.files} <= ${limits.files}`);
    const result = await q.executeTakeFirst();
    if (Number(result.numUpdatedRows) === 1) return;
    const now = await this.usage(username);
    const what =
      limits.files !== undefined && delta.files > 0 && now.files + delta.files > limits.files
        ? `files: ${now.files} of ${limits.files} used`
        : `bytes: ${now.bytes} of ${limits.bytes} used, ${delta.bytes} more asked`;
    throw sessionError('QuotaExceeded', `quota exceeded (${what})`);
  }

  /** Change the counts unconditionally (a credit after a delete, or giving back a reservation). */
  async adjust(username: string, delta: Usage): Promise<void> {
    if (delta.bytes === 0 && delta.files === 0) return;
    await this.ensureRow(username);
    await this.store.db
      .updateTable('quota_usage')
      .set({
        bytes: sql<number>`bytes + ${delta.bytes}`,
        files: sql<number>`files + ${delta.files}`,
        updated_at: nowIso(),
      })
      .where('username', '=', username)
      .execute();
  }

  async set(username: string, usage: Usage): Promise<void> {
    await this.ensureRow(username);
    await this.store.db
      .updateTable('quota_usage')
      .set({ bytes: usage.bytes, files: usage.files, updated_at: nowIso() })
      .where('username', '=', username)
      .execute();
  }

  /**
   * Walk `home` and set the user's row from what is stored. Writes finishing during the walk may
   * be counted twice or not at all: run it when the user is idle (admin action, after a crash).
   */
  async recompute(username: string, home: Storage): Promise<Usage> {
    const usage = await measure(home);
    await this.set(username, usage);
    return usage;
  }

  private async ensureRow(username: string): Promise<void> {
    await this.store.db
      .insertInto('quota_usage')
      .values({ username, bytes: 0, files: 0, updated_at: nowIso() })
      .onConflict((oc) => oc.column('username').doNothing())
      .execute();
  }
}

/** Bytes and files below the root of `storage`. */
export async function measure(storage: Storage, path = ''): Promise<Usage> {
  const usage: Usage = { bytes: 0, files: 0 };
  try {
    for await (const e of storage.list(path, { recursive: true })) {
      if (e.type !== 'file') continue;
      usage.bytes += e.size;
      usage.files++;
    }
  } catch (err) {
    if (!StorageError.is(err, 'NotFound')) throw err;
  }
  return usage;
}
