import { mkdir, realpath } from 'node:fs/promises';
import { resolve as resolvePath, sep } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import type { StorageTarget } from '../accounts/model.js';
import type { ChangeFeed } from '../accounts/types.js';
import { checkBucket } from '../s3/bucket-check.js';
import { createS3Client, type S3ClientOptions } from '../s3/client.js';
import type { S3Connection } from '../s3/connection.js';
import { checkedStorage } from '../storage/checked.js';
import { StorageError } from '../storage/errors.js';
import { LocalStorage } from '../storage/local/local-storage.js';
import { normalizePath } from '../storage/paths.js';
import type { MtimeIndex } from '../storage/s3/mtime-index.js';
import { S3Storage } from '../storage/s3/s3-storage.js';
import type { Storage } from '../storage/types.js';

/** The whole S3 connection of a name, secrets included (accounts' `connections.resolve`). */
export type ConnectionResolver = (name: string) => Promise<S3Connection & { showPartialUploads: boolean }>;

export interface PooledStorage {
  storage: Storage;
  /** S3 only: the connection as used (prefix joined), its client, and its setting. */
  s3?: { conn: S3Connection; client: S3Client; showPartialUploads: boolean; raw: S3Storage };
  /**
   * Memory one write handle on this storage may hold at most: S3: the parts being filled or
   * sent (partSize × concurrency) plus the reorder window of out-of-order writes (writeWindow);
   * local: its stream buffer. Sessions charge it against their handle memory budget.
   */
  writeCost: number;
}

const MiB = 1024 * 1024;

export interface StoragePoolOptions {
  /** Usually `accounts.connections.resolve`. */
  resolveConnection: ConnectionResolver;
  /** Passed to createS3Client (the HTTP server adds its metrics hook here). */
  s3ClientOptions?: S3ClientOptions;
  /** Usually `accounts.changes`: a `connections` bump drops every cached S3 storage. */
  changes?: Pick<ChangeFeed, 'subscribe'>;
  env?: NodeJS.ProcessEnv;
  /**
   * Files and folders of the server itself (the data folder with secret.key and ferry.db, a
   * SQLite file elsewhere): a local home or mount that is one of them or holds one is refused
   * (PermissionDenied), whoever configured it, so no user reads the key that opens every stored
   * secret. Compared by real path (symlinks resolved).
   */
  protectedPaths?: string[];
  /**
   * Given to every S3Storage opened (servers: the store's, src/db/mtime-index.ts), so listings
   * show the mtimes Ferry wrote without a HEAD per object.
   */
  mtimeIndex?: MtimeIndex;
  /** A failed mtime-index call (the S3 operation went on; the server logs this). */
  onMtimeIndexError?: (err: unknown) => void;
}

/** How long a passed bucket check is trusted (a removed bucket then shows at the first transfer). */
const BUCKET_CHECK_TTL_MS = 30_000;

/**
 * StorageTarget → Storage, cached and shared by every session (one S3 client per connection
 * and prefix, so sockets and the buffer budget are shared too). Every storage handed out is
 * behind `checkedStorage`. An `s3` target's prefix is joined under the connection's own prefix,
 * so a home can never reach above the connection's root; a `local` target's folder is created.
 *
 * When the change feed says `connections` changed, the cache is emptied: sessions keep the storage
 * they hold (their transfers go on), new lookups resolve the connection again.
 */
export class StoragePool {
  private cache = new Map<string, Promise<PooledStorage>>();
  private readonly unsubscribe: (() => void) | undefined;

  constructor(private readonly options: StoragePoolOptions) {
    this.unsubscribe = options.changes?.subscribe((topic) => {
      if (topic === 'connections') this.drop();
    });
  }

  /** The storage of `target` (cached). */
  async get(target: StorageTarget): Promise<Storage> {
    return (await this.entry(target)).storage;
  }

  /** The storage and, for S3, its connection and client. */
  entry(target: StorageTarget): Promise<PooledStorage> {
    const key = JSON.stringify(target);
    let found = this.cache.get(key);
    if (!found) {
      found = this.open(target);
      // A failed open is not cached: the next login tries again (the connection may be fixed).
      found.catch(() => {
        if (this.cache.get(key) === found) this.cache.delete(key);
      });
      this.cache.set(key, found);
    }
    return found;
  }

  /** When each pooled S3 storage last passed its bucket check (ms since the epoch). */
  private readonly bucketChecked = new WeakMap<PooledStorage, number>();

  /**
   * The login-time check of a home: S3: one HeadBucket unless the connection sets
   * `noCheckBucket`; local: the folder exists (it was created). A success counts for
   * BUCKET_CHECK_TTL_MS: protocols that log in per request (the HTTP file API) would otherwise
   * send a HeadBucket with every request. A failure is never remembered.
   */
  async checkAtLogin(target: StorageTarget): Promise<void> {
    const e = await this.entry(target);
    if (!e.s3) return;
    const last = this.bucketChecked.get(e);
    if (last !== undefined && Date.now() - last < BUCKET_CHECK_TTL_MS) return;
    await checkBucket(e.s3.client, e.s3.conn);
    this.bucketChecked.set(e, Date.now());
  }

  /** Forget every cached storage (a connection changed). */
  drop(): void {
    this.cache.clear();
  }

  close(): void {
    this.unsubscribe?.();
    this.drop();
  }

  private protectedReal: Promise<string[]> | undefined;

  /** PermissionDenied when the local folder `path` is, or holds, one of `protectedPaths`. */
  private async refuseProtected(path: string): Promise<void> {
    const real = (p: string) => realpath(p).catch(() => resolvePath(p));
    this.protectedReal ??= Promise.all((this.options.protectedPaths ?? []).map(real));
    const root = await real(path);
    const prefix = root.endsWith(sep) ? root : `${root}${sep}`;
    if ((await this.protectedReal).some((p) => p === root || p.startsWith(prefix))) {
      throw new StorageError(
        'PermissionDenied',
        "a home or mount may not be the server's data folder or a folder holding it",
      );
    }
  }

  private async open(target: StorageTarget): Promise<PooledStorage> {
    if (target.type === 'local') {
      await mkdir(target.path, { recursive: true }).catch((err: NodeJS.ErrnoException) => {
        throw new StorageError(
          'Transient',
          `cannot create the folder of a home or mount: ${err.code ?? err.message}`,
        );
      });
      await this.refuseProtected(target.path);
      return { storage: checkedStorage(new LocalStorage(target.path)), writeCost: MiB };
    }
    const resolved = await this.options.resolveConnection(target.connection);
    const { showPartialUploads, ...base } = resolved;
    const extra = target.prefix === '' ? '' : normalizePath(target.prefix);
    const prefix = [base.prefix, extra].filter((p) => p !== '').join('/');
    const conn: S3Connection = { ...base, prefix };
    const client = createS3Client(conn, this.options.env ?? process.env, this.options.s3ClientOptions ?? {});
    const raw = new S3Storage(client, conn, {
      mtimeIndex: this.options.mtimeIndex,
      onMtimeIndexError: this.options.onMtimeIndexError,
    });
    const { partSize, concurrency, writeWindow } = raw.upload;
    return {
      storage: checkedStorage(raw),
      s3: { conn, client, showPartialUploads, raw },
      writeCost: partSize * concurrency + (writeWindow ?? 32 * MiB),
    };
  }
}
