import { Readable } from 'node:stream';
import type { HeadObjectCommandOutput, S3Client } from '@aws-sdk/client-s3';
import { type BufferBudget, processBudget } from '../../s3/buffer-budget.js';
import { SHA256_META } from '../../s3/checksum.js';
import type { LazyS3Client } from '../../s3/client.js';
import type { S3Connection } from '../../s3/connection.js';
import type { DownloadTuning } from '../../s3/download.js';
import { translateS3Error } from '../../s3/errors.js';
import { listPagerFor } from '../../s3/list-pager.js';
import { type ObjectParams, objectParamsFor } from '../../s3/object-params.js';
import { s3Sdk } from '../../s3/sdk.js';
import { defaultDownloadTuning, defaultUploadTuning, transferTuningFor } from '../../s3/tuning.js';
import type { UploadTuning } from '../../s3/upload.js';
import { notFound, StorageError } from '../errors.js';
import type { OpenWriteOptions, WriteHandle } from '../handles.js';
import { hashOf } from '../hash.js';
import { pageStream } from '../list-page.js';
import type { OpenReadOptions, ReadHandle } from '../read-handle.js';
import type {
  AbortUnfinishedOptions,
  AttributeChanges,
  DownloadToOptions,
  Entry,
  FileAttributes,
  HashAlgorithm,
  ListOptions,
  OpOptions,
  PresignedUrl,
  PresignOptions,
  ReadOptions,
  ServerSideSource,
  SpaceInfo,
  Storage,
  StorageFeatures,
  StoragePath,
  WriteBody,
} from '../types.js';
import { checkAncestors, checkFileTarget, makeFolder, withFolderTimes } from './folders.js';
import { checkFileName, isDirMarkerHead, KeyMap } from './keys.js';
import { flatten, type ListPage, listChildren, listTree } from './listing.js';
import type { MtimeIndex } from './mtime-index.js';
import { MtimeNotes } from './mtime-notes.js';
import * as remove from './remove.js';
import { statPath } from './stat.js';
import type { S3WriteOptions } from './transfer-io.js';

/*
 * What only reading, writing, copying or presigning needs (the upload and download engines, write
 * handles, the presigner: ~100 modules and the AWS SDK) is imported by the method that needs it,
 * so that a storage that only lists (`ferry ls`) never loads it.
 */

let transferIoModule: Promise<typeof import('./transfer-io.js')> | undefined;
/** transfer-io.js, loaded on first use: one `import()` per process, not one per read or write. */
const transferIo = () => (transferIoModule ??= import('./transfer-io.js'));

/**
 * The StartAfter key for a paged listing: the cursor as a key. A folder's
 * cursor (`x/`) in a listing of direct children must skip everything below it too, or S3 would
 * roll the keys below into the same common prefix again; `pageStream` drops what still repeats.
 */
function startAfterKey(keys: KeyMap, options: ListOptions, recursive: boolean): string | undefined {
  if (options.startAfter === undefined) return undefined;
  const key = keys.file(options.startAfter);
  return !recursive && key.endsWith('/') ? `${key}\u{10FFFF}` : key;
}

/** A file of an S3Storage, handed out through its wrappers for a server-side copy. */
class S3CopySource implements ServerSideSource {
  readonly kind = 's3';
  constructor(
    readonly storage: S3Storage,
    readonly path: StoragePath,
  ) {}
}

export type { S3WriteOptions } from './transfer-io.js';

export interface S3StorageOptions {
  /**
   * Where the client-set mtimes of objects Ferry wrote are kept (servers: the store's, from
   * src/db/mtime-index.ts), so listings show them without a HEAD. None: listings show LastModified.
   */
  mtimeIndex?: MtimeIndex;
  /** A failed index call (never fails the S3 operation): the server logs it. */
  onMtimeIndexError?: (err: unknown) => void;
}

/**
 * A bucket (and a key prefix inside it, which acts as a chroot) seen as a file system: folders
 * are prefixes plus `dir/` markers, `stat` of a folder costs one LIST (a file a LIST and a HEAD), listings are
 * streamed page by page, renames are server-side copies. See docs/s3-semantics.md.
 */
export class S3Storage implements Storage {
  readonly description: string;
  readonly features: StorageFeatures = {
    listingMtimeIsClientMtime: false,
    keepsEmptyFolders: true,
    keepsMetadata: true,
    conditionalWrites: true,
    readHandleKeepsVersion: false,
    storedHashes: ['sha256'],
    space: [],
  };
  readonly bucket: string;
  readonly keys: KeyMap;
  /** Storages with the same account can copy between their buckets server-side. */
  readonly account: string;
  readonly conn: S3Connection;
  /** The connection's object settings (SSE, SSE-C, ACL, storage class …) per kind of call. */
  readonly params: ObjectParams;
  /** One ListObjectsV2 request in this bucket, errors translated. */
  readonly listPage: ListPage;

  /** Multipart tuning for writes (tests lower it to exercise multipart with small files). */
  upload: UploadTuning = defaultUploadTuning;
  /** Ranged-download tuning for reads. */
  download: DownloadTuning = defaultDownloadTuning;
  /** The byte budget reads and writes take their buffers from (the process-wide one). */
  budget: BufferBudget = processBudget;

  /** The mtime index (S3StorageOptions), if any. */
  readonly mtimeIndex: MtimeIndex | undefined;
  /** This storage's scope in the mtime index: the endpoint and bucket (keys are full keys). */
  readonly mtimeScope: string;
  /** What writes, removals and listings tell the mtime index (mtime-notes.ts). */
  private readonly mtimes: MtimeNotes;

  /** The SDK client, or how to make it on first use (client.ts `lazyS3Client`). */
  private readonly lazy: S3Client | LazyS3Client;

  /**
   * `client` may be a LazyS3Client: the AWS SDK is then loaded only when a request needs it
   * (a listing on the lean path never does).
   */
  constructor(client: S3Client | LazyS3Client, conn: S3Connection, options: S3StorageOptions = {}) {
    this.lazy = client;
    this.mtimeIndex = options.mtimeIndex;
    this.mtimeScope = `${conn.endpoint ?? 'aws'} ${conn.bucket}`;
    this.mtimes = new MtimeNotes(
      options.mtimeIndex,
      this.mtimeScope,
      options.onMtimeIndexError ?? (() => {}),
      async (key) =>
        (
          await this.client.send(
            new (s3Sdk().HeadObjectCommand)({ Bucket: this.bucket, Key: key, ...this.params.read }),
          )
        ).ETag,
    );
    this.conn = conn;
    this.bucket = conn.bucket;
    this.keys = new KeyMap(conn.prefix);
    this.account = JSON.stringify([
      conn.endpoint ?? 'aws',
      conn.accessKeyId ?? 'default chain',
      conn.pathStyle,
    ]);
    this.description = `s3://${conn.bucket}/${conn.prefix}`;
    this.params = objectParamsFor(conn);
    ({ upload: this.upload, download: this.download } = transferTuningFor(conn));
    const lazy = 'leanList' in client ? client : undefined;
    this.listPage = listPagerFor(() => this.client, this.bucket, this.send, {
      listVersion: conn.listVersion,
      requestPayer: this.params.payer.RequestPayer,
      lean: lazy?.leanList,
      closeLists: this.download.closeFirstConnection === true,
      // The SDK's learned clock skew, once its client exists.
      clockOffset: () =>
        lazy && !lazy.made
          ? 0
          : ((this.client.config as { systemClockOffset?: number }).systemClockOffset ?? 0),
    });
  }

  /** The SDK client (made now if it was not: the SDK loads then). */
  get client(): S3Client {
    return 'leanList' in this.lazy ? this.lazy.get() : this.lazy;
  }

  /** Send one S3 call, translating its error into a StorageError naming the key and IAM action. */
  readonly send = async <T>(operation: string, key: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      throw translateS3Error(err, {
        operation,
        bucket: this.bucket,
        key,
        path: this.keys.path(key.replace(/\/$/, '')),
      });
    }
  };

  /** A folder costs one LIST, a file a LIST and a HEAD (stat.ts). */
  async stat(path: StoragePath, options: OpOptions = {}): Promise<Entry> {
    return statPath(this, path, options.signal);
  }

  async *list(path: StoragePath, options: ListOptions = {}): AsyncIterable<Entry> {
    for await (const batch of this.listBatches(path, options)) {
      for (const entry of batch) {
        options.signal?.throwIfAborted();
        yield entry;
      }
    }
  }

  /** `list` a page at a time: the same entries in the same order, the same errors (types.ts). */
  async *listBatches(path: StoragePath, options: ListOptions = {}): AsyncIterable<Entry[]> {
    const prefix = this.keys.dir(path);
    const seen = { any: false };
    const paged = options.startAfter !== undefined || options.limit !== undefined;
    const from = startAfterKey(this.keys, options, !!options.recursive);
    const join = this.mtimes.join;
    const ahead = !paged; // a whole listing asks for the next page while this one is used
    let batches = options.recursive
      ? listTree(this.listPage, this.keys, prefix, seen, from, join, ahead, options.signal)
      : listChildren(this.listPage, this.keys, prefix, seen, from, join, ahead, options.signal);
    if (options.folderTimes && !options.recursive) batches = withFolderTimes(this, batches);
    let count = 0;
    if (paged) {
      // S3 lists in key order, which is the paging order: a cursor compares as its raw key (an
      // encoded name, names.ts, sorts where its key does, not where its `‛…` form would).
      const after = (cursor: string, startAfter: string) =>
        Buffer.compare(Buffer.from(this.keys.file(cursor)), Buffer.from(this.keys.file(startAfter))) > 0;
      for await (const entry of pageStream(flatten(batches), options, after)) {
        options.signal?.throwIfAborted();
        count++;
        yield [entry];
      }
    } else {
      for await (const batch of batches) {
        options.signal?.throwIfAborted();
        count += batch.length;
        yield batch;
      }
    }
    if (!seen.any && path !== '') {
      // Nothing under the prefix: a file, a slash-less marker, or nothing at all.
      const head = await this.head(path);
      if (!head) {
        // Paged past the end of a folder that has keys before the cursor?
        if (paged && count === 0 && (await this.firstKeyUnder(path)) !== undefined) return;
        throw notFound(path);
      }
      if (!isDirMarkerHead(head.ContentLength, head.ContentType)) {
        throw new StorageError('NotADirectory', `not a folder: /${path}`, { path });
      }
    }
  }

  /** A handle reading ranges of one pinned version with read-ahead (read-handle.ts). */
  async openRead(path: StoragePath, options: OpenReadOptions = {}): Promise<ReadHandle> {
    const { openS3Read } = await import('./read-handle.js');
    return openS3Read(this, path, options);
  }

  /** SHA-256 from the stored `ferry-sha256` when there is one (a HEAD); otherwise by reading. */
  async hash(path: StoragePath, algorithm: HashAlgorithm, options: OpOptions = {}): Promise<string> {
    if (algorithm === 'sha256') {
      const stored = (await this.headFile(path)).Metadata?.[SHA256_META];
      if (stored && /^[0-9a-f]{64}$/.test(stored)) return stored;
    }
    return hashOf(await this.read(path, { signal: options.signal }), algorithm);
  }

  /** A SigV4 presigned GET or PUT URL of a file (links.ts). */
  async presign(path: StoragePath, options: PresignOptions): Promise<PresignedUrl> {
    const { presignFile } = await import('./links.js');
    return presignFile(this, path, options);
  }

  async publicUrl(path: StoragePath): Promise<string> {
    const { publicFileUrl } = await import('./links.js');
    return publicFileUrl(this, path);
  }

  async attributes(path: StoragePath): Promise<FileAttributes> {
    const { attributesOf } = await import('./object-edit.js');
    return attributesOf(await this.headFile(path));
  }

  /** In place, by one exact server-side copy (object-edit.ts). */
  async updateAttributes(path: StoragePath, changes: AttributeChanges): Promise<FileAttributes> {
    const { updateAttributes } = await import('./object-edit.js');
    return updateAttributes(this, path, changes);
  }

  /** S3 has no free space or quota to ask for (RGW quotas are an admin API): nothing known. */
  async about(): Promise<SpaceInfo> {
    return {};
  }

  /** Read through the ranged-download engine (transfer-io.ts). */
  async read(path: StoragePath, options: ReadOptions = {}): Promise<Readable> {
    const { readFile } = await transferIo();
    return readFile(this, path, options);
  }

  /**
   * Write through the upload engine (transfer-io.ts; S3-only extras in `S3WriteOptions`), after
   * checking that no ancestor is a file and `path` is not a folder (folders.ts).
   */
  async write(path: StoragePath, body: WriteBody, options: S3WriteOptions = {}): Promise<Entry> {
    try {
      if (options.targetListed) checkFileName(path);
      else await checkFileTarget(this, path, { parentIsFolder: options.parentIsFolder });
    } catch (err) {
      if (body instanceof Readable) body.destroy(); // release the source (e.g. a local file)
      throw err;
    }
    const { writeFile } = await transferIo();
    const entry = await writeFile(this, path, body, options);
    await this.noteMtime(this.keys.file(path), entry.etag, options.mtime);
    return entry;
  }

  /** A write handle: a multipart upload held open across writes (open-write.ts). */
  async openWrite(path: StoragePath, options: OpenWriteOptions = {}): Promise<WriteHandle> {
    const { openS3Write } = await import('./open-write.js');
    return openS3Write(this, path, options);
  }

  /** Delete a file; its folder stays even when this was its last file (remove.ts). */
  async remove(path: StoragePath): Promise<void> {
    await remove.removeFile(this, path);
  }

  /** A marker for `path` and every missing parent (folders.ts). */
  async mkdir(path: StoragePath): Promise<void> {
    await makeFolder(this, path);
  }

  /** Remove an empty folder; its parent stays even when this was its last entry (remove.ts). */
  async rmdir(path: StoragePath): Promise<void> {
    await remove.removeFolder(this, path);
  }

  async copy(from: StoragePath, to: StoragePath): Promise<Entry> {
    return this.copyFileFrom(this, from, to);
  }

  /**
   * The source is asked through its wrappers (`serverSideSource`), so whatever they check for a
   * read applies; one that doesn't forward it gets its bytes streamed by the caller instead.
   */
  async copyFrom(source: Storage, from: StoragePath, to: StoragePath): Promise<Entry | undefined> {
    if (!source.serverSideSource) return undefined;
    const handle = await source.serverSideSource(from);
    if (!(handle instanceof S3CopySource) || handle.storage.account !== this.account) return undefined;
    return this.copyFileFrom(handle.storage, handle.path, to);
  }

  async serverSideSource(path: StoragePath): Promise<ServerSideSource> {
    return new S3CopySource(this, path);
  }

  async downloadTo(path: StoragePath, localFile: string, options?: DownloadToOptions) {
    const { downloadTo } = await import('./download-to.js');
    return downloadTo(this, path, localFile, options);
  }

  async abortUnfinishedWrites(path: StoragePath, options: AbortUnfinishedOptions): Promise<number> {
    const { abortUnfinishedWrites } = await import('./unfinished-writes.js');
    return abortUnfinishedWrites(this, path, options);
  }

  /** Server-side copy of the file `from` of `source` (copy-file.ts). */
  private async copyFileFrom(source: S3Storage, from: StoragePath, to: StoragePath): Promise<Entry> {
    const { copyFile } = await import('./copy-file.js');
    return copyFile(this, source, from, to);
  }

  async rename(from: StoragePath, to: StoragePath): Promise<void> {
    const head = await this.head(from);
    if (head && !isDirMarkerHead(head.ContentLength, head.ContentType)) {
      const { renameFile } = await import('./copy-file.js');
      return renameFile(this, from, to, head);
    }
    await checkAncestors(this, to);
    const { renameFolder } = await import('./rename-folder.js');
    await renameFolder(this, from, to, this.copySettings());
  }

  /** In place, by one exact server-side copy (object-edit.ts). */
  async setModTime(path: StoragePath, mtime: Date): Promise<void> {
    const { setModTime } = await import('./object-edit.js');
    await setModTime(this, path, mtime);
  }

  /** Every key below `path` deleted, a page at a time (remove.ts). */
  async removeTree(path: StoragePath): Promise<void> {
    await remove.removeTree(this, path);
  }

  async close(): Promise<void> {
    this.lazy.destroy(); // a client never made: only its sockets
  }

  /** After Ferry wrote `key`: its client mtime recorded in the index, or an old record forgotten. */
  async noteMtime(key: string, etag: string | undefined, mtime: Date | undefined): Promise<void> {
    await this.mtimes.note(key, etag, mtime);
  }

  /** Removed (or renamed away) keys leave the index; failures are reported, never thrown. */
  async forgetMtimes(keys: readonly string[]): Promise<void> {
    await this.mtimes.forget(keys);
  }

  /** HEAD of the file key at `path`; undefined when there is none. */
  async head(path: StoragePath, signal?: AbortSignal): Promise<HeadObjectCommandOutput | undefined> {
    const key = this.keys.file(path);
    try {
      return await this.client.send(
        new (s3Sdk().HeadObjectCommand)({ Bucket: this.bucket, Key: key, ...this.params.read }),
        { abortSignal: signal },
      );
    } catch (err) {
      const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
      if (e.name === 'NotFound' || e.name === 'NoSuchKey' || e.$metadata?.httpStatusCode === 404)
        return undefined;
      throw translateS3Error(err, { operation: 'HeadObject', bucket: this.bucket, key, path });
    }
  }

  /** HEAD of a file that must exist: NotFound / IsADirectory otherwise. */
  async headFile(path: StoragePath): Promise<HeadObjectCommandOutput> {
    const head = await this.head(path);
    if (head && !isDirMarkerHead(head.ContentLength, head.ContentType)) return head;
    if (head || (await this.firstKeyUnder(path)) !== undefined) {
      throw new StorageError('IsADirectory', `is a folder: /${path}`, { path });
    }
    throw notFound(path);
  }

  /** The first key below the folder `path` (its marker sorts first), or undefined: one LIST. */
  async firstKeyUnder(
    path: StoragePath,
    signal?: AbortSignal,
  ): Promise<{ Key?: string; LastModified?: Date } | undefined> {
    const page = await this.listPage({ Prefix: this.keys.dir(path), MaxKeys: 1, signal });
    return page.Contents?.[0];
  }

  /** Delete keys, up to 1,000 with one DeleteObjects (remove.ts). */
  async deleteKeys(keys: string[]): Promise<void> {
    await remove.deleteKeys(this, keys);
  }

  async deleteKey(key: string): Promise<void> {
    await remove.deleteKey(this, key);
  }

  /** Multipart-copy settings of this connection (copy.ts CopyOptions). */
  copySettings() {
    return {
      multipartThreshold: this.conn.multipartCopyThreshold,
      partSize: this.conn.multipartCopyPartSize,
      concurrency: this.conn.concurrency,
      objectParams: this.params,
    };
  }
}
