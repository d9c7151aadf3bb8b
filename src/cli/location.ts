import * as nodePath from 'node:path';
import { createS3Client } from '../s3/client.js';
import { connectionFromUrl, type S3ConnectionInput } from '../s3/connection.js';
import { isS3Url, parseS3Url } from '../s3/url.js';
import { checkedStorage } from '../storage/checked.js';
import { LocalStorage } from '../storage/local/local-storage.js';
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

  constructor(private readonly s3Options: Partial<S3ConnectionInput> = {}) {}

  open(arg: string): Location {
    const asFolder = arg.endsWith('/') || arg === '.' || arg === '..';
    if (isS3Url(arg)) {
      const loc = parseS3Url(arg);
      const conn = connectionFromUrl(arg, { ...this.s3Options, prefix: '' });
      const id = JSON.stringify([conn.endpoint, conn.bucket, conn.accessKeyId, conn.region]);
      let storage = this.storages.get(id);
      if (!storage) {
        storage = checkedStorage(new S3Storage(createS3Client(conn), conn));
        this.storages.set(id, storage);
      }
      return { storage, path: normalizePath(loc.key), display: `s3://${loc.bucket}/${loc.key}`, asFolder };
    }
    let storage = this.storages.get('local');
    if (!storage) {
      storage = checkedStorage(new LocalStorage('/'));
      this.storages.set('local', storage);
    }
    return { storage, path: normalizePath(nodePath.resolve(arg)), display: arg, asFolder };
  }

  async close(): Promise<void> {
    await Promise.all([...this.storages.values()].map((s) => s.close?.()));
  }
}
