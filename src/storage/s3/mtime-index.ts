/**
 * Modification times Ferry set on S3 objects, kept beside S3 so that a listing shows them without
 * a HEAD per object (S3 listings carry no metadata, only LastModified). Each record is keyed by
 * the storage's scope (endpoint + bucket: `S3Storage.mtimeScope`), the object key and the ETag
 * the object had when the time was recorded: an object replaced by another tool (another ETag)
 * falls back to its LastModified, never to a stale time.
 *
 * S3Storage records a time when a write it made closes with an mtime and when `setModTime`
 * succeeds, forgets it when it removes or renames the object, and joins a listing page with one
 * `lookup` (one query per page, not per entry). Servers pass the store's implementation
 * (src/db/mtime-index.ts); the CLI passes none (its listings show LastModified, as today).
 * A failed lookup or record never fails the S3 operation: the listing shows LastModified and the
 * server logs the failure.
 */
export interface MtimeIndex {
  /** The recorded times of `objects` whose ETag still matches, by key. */
  lookup(scope: string, objects: readonly { key: string; etag: string }[]): Promise<Map<string, Date>>;
  record(scope: string, key: string, etag: string, mtime: Date): Promise<void>;
  forget(scope: string, keys: readonly string[]): Promise<void>;
}
