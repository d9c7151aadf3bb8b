import * as nodePath from 'node:path';
import { lazyS3Client } from '../s3/client.js';
import { connectionFromUrl, type S3ConnectionInput } from '../s3/connection.js';
import { namedConnectionInput } from '../s3/connections-file.js';
import { isS3Url, parseS3Url } from '../s3/url.js';
import { checkedStorage } from '../storage/checked.js';
import { LocalStorage } from '../storage/local/local-storage.js';
import { encodePath } from '../storage/names.js';
import { normalizePath } from '../storage/paths.js';
import { S3Storage } from '../storage/s3/s3-storage.js';
import type { Storage, StoragePath } from '../storage/types.js';

/** A place a command works on: a storage and a path inside it. */
export interface Location {
  storage: Storage;
  path: StoragePath;
  /** As the user wrote it (secrets redacted), for messages. */
  display: string;
  /** The user wrote a trailing `/`: the location is meant as a folder. */
  asFolder: boolean;
}

/**
 * Opens the storages named on a command line. S3 locations in the same bucket (same endpoint and
 * credentials) share one storage, so copies and moves between them are server-side; every local
 * path shares one storage rooted at `/`.
 */
export class Locations {
  private readonly storages = new Map<string, Storage>();

  /**
   * `s3Options` are the connection flags; `connection` names an entry of the connections file
   * whose settings apply under the flags (its bucket is used when a URL names none: `s3:///key`
   * is not valid, so the URL's bucket always wins).
   */
  constructor(
    private readonly s3Options: Partial<S3ConnectionInput> = {},
    private readonly connection?: string,
  ) {}

  /** Connection settings for an S3 URL: named connection (if any) under the flags. */
  s3Settings(): Partial<S3ConnectionInput> {
    if (!this.connection) return this.s3Options;
    const { url: _url, bucket: _b, prefix: _p, ...named } = namedConnectionInput(this.connection);
    return { ...named, ...this.s3Options };
  }

  open(arg: string): Location {
    const asFolder = arg.endsWith('/') || arg === '.' || arg === '..';
    if (isS3Url(arg)) {
      const loc = parseS3Url(arg);
      const conn = connectionFromUrl(arg, { ...this.s3Settings(), prefix: '' });
      const id = JSON.stringify([
        conn.endpoint,
        conn.bucket,
        conn.accessKeyId,
        conn.region,
        conn.profile,
        conn.roleArn,
      ]);
      let storage = this.storages.get(id);
      if (!storage) {
        // The SDK client is made on first use: a listing on the lean path never needs it.
        storage = checkedStorage(new S3Storage(lazyS3Client(conn), conn));
        this.storages.set(id, storage);
      }
      return { storage, path: normalizePath(loc.key), display: `s3://${loc.bucket}/${loc.key}`, asFolder };
    }
    let storage = this.storages.get('local');
    if (!storage) {
      // The CLI's event loop has nothing else to do while a small file is read: inline reads.
      storage = checkedStorage(new LocalStorage('/', { inlineSmallReads: true }));
      this.storages.set('local', storage);
    }
    // A local argument names bytes on disk: each segment is mapped as the local backend lists it
    // (names.ts), so an NFD name is that file, not its NFC twin.
    return {
      storage,
      path: normalizePath(encodePath(nodePath.resolve(arg).slice(1))),
      display: arg,
      asFolder,
    };
  }

  async close(): Promise<void> {
    await Promise.all([...this.storages.values()].map((s) => s.close?.()));
  }
}

/** `path` of `storage` as a user would write it (`s3://bucket/key`, `/home/me/file`), for messages. */
export function displayPath(storage: Storage, path: StoragePath): string {
  return `${storage.description.replace(/\/$/, '')}/${path}`;
}
