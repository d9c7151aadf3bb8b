import { bareEtag as bare } from '../storage/etag.js';
import type { MtimeIndex } from '../storage/s3/mtime-index.js';
import type { Store } from './database.js';

/** Keys per query: a listing page of S3 (1,000) is one query; bound parameters stay well inside SQLite's limit. */
const BATCH = 1000;

/**
 * The MtimeIndex (src/storage/s3/mtime-index.ts) kept in the store's `object_mtimes` table
 * (SQLite or PostgreSQL): one SELECT per lookup of up to 1,000 keys, one upsert per record, one
 * DELETE per 1,000 keys forgotten. Shared by every node on one PostgreSQL, so a time recorded by
 * one node shows in the listings of all.
 */
export class StoreMtimeIndex implements MtimeIndex {
  constructor(private readonly store: Store) {}

  async lookup(scope: string, objects: readonly { key: string; etag: string }[]): Promise<Map<string, Date>> {
    const found = new Map<string, Date>();
    for (let i = 0; i < objects.length; i += BATCH) {
      const batch = objects.slice(i, i + BATCH);
      const rows = await this.store.db
        .selectFrom('object_mtimes')
        .select(['key', 'etag', 'mtime'])
        .where('scope', '=', scope)
        .where(
          'key',
          'in',
          batch.map((o) => o.key),
        )
        .execute();
      const etags = new Map(batch.map((o) => [o.key, bare(o.etag)]));
      for (const r of rows) {
        if (etags.get(r.key) !== r.etag) continue; // changed by another tool: LastModified applies
        const mtime = new Date(r.mtime);
        if (!Number.isNaN(mtime.getTime())) found.set(r.key, mtime);
      }
    }
    return found;
  }

  async record(scope: string, key: string, etag: string, mtime: Date): Promise<void> {
    const row = { scope, key, etag: bare(etag), mtime: mtime.toISOString() };
    await this.store.db
      .insertInto('object_mtimes')
      .values(row)
      .onConflict((oc) => oc.columns(['scope', 'key']).doUpdateSet({ etag: row.etag, mtime: row.mtime }))
      .execute();
  }

  async forget(scope: string, keys: readonly string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += BATCH) {
      await this.store.db
        .deleteFrom('object_mtimes')
        .where('scope', '=', scope)
        .where('key', 'in', keys.slice(i, i + BATCH))
        .execute();
    }
  }
}
