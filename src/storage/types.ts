import type { Readable } from 'node:stream';
import type { OpenWriteOptions, WriteHandle } from './handles.js';
import type { OpenReadOptions, ReadHandle } from './read-handle.js';

/**
 * Paths given to a backend are relative to its root, already validated and normalised by
 * `checkedStorage` (see paths.ts): NFC, no leading or trailing `/`, no empty, `.` or `..`
 * segments, no control characters. The root itself is `''`. A segment beginning with `‛` (U+201B)
 * is the canonical encoding of a native name paths cannot express (NFD, control characters, `a//b`
 * …): backends that hold native names decode it at their boundary (names.ts).
 */
export type StoragePath = string;

/**
 * A file or folder as a backend described it. What is known depends on where the entry came from,
 * which `detail` says, so no caller mistakes a listing entry for a stat entry:
 *
 * | field                 | `detail: 'stat'` (stat, write, copy; also absent) | `detail: 'listing'` (S3 list) |
 * |-----------------------|------------------------------------------|------------------------------------|
 * | path, name, type, size| known                                    | known                              |
 * | mtime                 | the client-set time when kept, else the backend's | the backend's own time (S3: LastModified), or the client-set time when `clientMtime` (S3's mtime index) |
 * | storeMtime            | unset                                    | with `clientMtime` only: the backend's own time (S3: LastModified) |
 * | etag, storageClass    | known where the backend has them         | known                              |
 * | contentType, metadata | known: undefined means the backend keeps none | unknown: undefined means "not fetched" |
 *
 * A caller that needs mtime, content type or metadata and holds a `'listing'` entry calls `stat`
 * (operations.ts `copyFile` does). Backends whose listings carry everything (memory, local)
 * leave `detail` unset.
 */
export interface Entry {
  /**
   * Which fields are known (see above): `'listing'` when the entry came from a listing that
   * lacks the client mtime, content type and metadata; `'stat'` or absent when it is complete.
   */
  detail?: 'listing' | 'stat';
  /**
   * A `'listing'` entry whose `mtime` is the client-set time after all: S3Storage joined it from
   * its mtime index (src/storage/s3/mtime-index.ts: recorded by Ferry for this key and ETag).
   */
  clientMtime?: boolean;
  /**
   * With `clientMtime` only: the backend's own time the listing gave (S3: LastModified), which
   * `mtime` then does not show. A copy keeps the client time but never the backend's (sync's
   * one-store-twice guard tells one object seen twice from a copy by it).
   */
  storeMtime?: Date;
  /** Full path relative to the storage root ('' for the root). */
  path: StoragePath;
  /** Last segment of `path` ('' for the root). */
  name: string;
  type: 'file' | 'dir';
  /** Size in bytes; 0 for folders. */
  size: number;
  /**
   * Modification time: the client-set time when the backend stores one (S3: `X-Amz-Meta-Mtime`,
   * read by `stat`; not in a `'listing'` entry), otherwise the backend's own (S3: LastModified;
   * folders without a marker: the Unix epoch).
   */
  mtime: Date;
  contentType?: string;
  etag?: string;
  storageClass?: string;
  /** User metadata (S3 `x-amz-meta-*`, names in lower case). Unknown in a `'listing'` entry. */
  metadata?: Record<string, string>;
}

export interface ListOptions {
  /** Yield every descendant (files and folders) instead of the direct children only. */
  recursive?: boolean;
  /**
   * Paged listing: yield only the entries that come after this cursor — `listCursor(entry)` of
   * the last entry of the previous page. With `startAfter` or `limit` entries come in a stable
   * order (S3: key order; memory, local: the cursors' UTF-8 byte order), the same for every page,
   * so pages join with no gap and no repeat (entries added or removed meanwhile aside).
   */
  startAfter?: string;
  /** Yield at most this many entries (a positive integer). */
  limit?: number;
  /**
   * Also find the times of folders the listing alone does not date (on S3 a folder seen as a
   * common prefix: one one-key LIST per folder, a few at a time). Without it such a folder's
   * mtime is the epoch, which means "unknown". For `ls -l`, not for tree walks.
   */
  folderTimes?: boolean;
  signal?: AbortSignal;
}

/** The cursor of a listed entry for `ListOptions.startAfter`: its path, plus `/` for a folder. */
export function listCursor(entry: Pick<Entry, 'path' | 'type'>): string {
  return entry.type === 'dir' ? `${entry.path}/` : entry.path;
}

/** Options of the operations that take nothing else. */
export interface OpOptions {
  /** Abort the operation: it rejects with the signal's reason (an AbortError). */
  signal?: AbortSignal;
}

export type HashAlgorithm = 'sha256' | 'md5';
export const hashAlgorithms: readonly HashAlgorithm[] = ['sha256', 'md5'];

/** Space figures in bytes; a field is absent when the backend can't know it. */
export interface SpaceInfo {
  /** Size of the file system or quota. */
  total?: number;
  /** Bytes in use. */
  used?: number;
  /** Bytes that may still be written. */
  free?: number;
}

/**
 * What a backend is like, for callers that must know (protocol servers, sync, the CLI). About
 * the backend, not one entry (an entry says which of its own fields are known).
 */
export interface StorageFeatures {
  /** Listing entries carry the client-set mtime (false on S3: listings show LastModified). */
  listingMtimeIsClientMtime: boolean;
  /** A folder with nothing in it stays (S3: yes, as a `dir/` marker Ferry writes). */
  keepsEmptyFolders: boolean;
  /** Content type and user metadata survive a write. */
  keepsMetadata: boolean;
  /** A write can be made conditional (exclusive create) by the store itself. */
  conditionalWrites: boolean;
  /**
   * A read handle keeps reading the version it opened when the file is replaced meanwhile;
   * false: such a read fails with Conflict instead (S3).
   */
  readHandleKeepsVersion: boolean;
  /** Hashes `hash()` can answer without reading the file when the file carries them. */
  storedHashes: readonly HashAlgorithm[];
  /** Which `about()` figures are known. */
  space: readonly (keyof SpaceInfo)[];
}

export interface ReadOptions {
  /** First byte to read (default 0). */
  offset?: number;
  /** Number of bytes to read from `offset` (default: to the end). */
  length?: number;
  signal?: AbortSignal;
  /**
   * The caller listed a regular file here (a sync, a tree copy): a local backend fails on anything
   * else found in its place (a FIFO put there since) instead of waiting in open() for a writer.
   */
  regularFile?: boolean;
}

export interface WriteOptions {
  /** Size in bytes when known: lets a backend choose a single PUT or a part size up front. */
  size?: number;
  contentType?: string;
  /** User metadata to store with the file (names in lower case). */
  metadata?: Record<string, string>;
  /** Modification time to record (S3: `X-Amz-Meta-Mtime`). */
  mtime?: Date;
  /**
   * The caller knows every ancestor of `path` is a folder (a tree copy into a folder it made):
   * the backend may skip checking that none is a file (on S3 a HEAD per ancestor).
   */
  parentIsFolder?: boolean;
  /**
   * The caller listed the destination just now (a sync plan): nothing but a file is at `path`
   * and no ancestor is a file, so the backend may skip its own checks (S3: the LIST and the HEAD
   * per ancestor before the PUT). A folder made there meanwhile is the caller's risk.
   */
  targetListed?: boolean;
  /**
   * Create only, never replace: AlreadyExists when a file is at `path` (S3: `If-None-Match: *`,
   * which needs only s3:PutObject; a store that refuses conditional writes: NotSupported).
   */
  createOnly?: boolean;
  signal?: AbortSignal;
}

export type WriteBody = Readable | AsyncIterable<Uint8Array> | Uint8Array | string;

/**
 * The Storage contract: ten required operations and the backend's `features`. Every method throws `StorageError`.
 *
 * Semantics every backend keeps (the conformance suite in test/conformance checks them):
 * - `stat`: NotFound when nothing is there. A folder is a folder whether or not it was made
 *   with `mkdir` (on S3 a prefix with keys below it is a folder).
 * - `list`: NotFound for a missing folder, NotADirectory for a file. Order is unspecified.
 * - `read`: NotFound, IsADirectory. A range past the end yields the bytes that exist.
 * - `write`: creates missing parent folders, replaces an existing file, and is atomic: on any
 *   failure nothing (not a partial file) is left at `path`. Returns the written entry.
 * - `remove`: files only; NotFound, IsADirectory.
 * - `mkdir`: creates missing parents; AlreadyExists when anything is at `path`.
 * - `rmdir`: NotFound, NotADirectory, NotEmpty. Never removes the root.
 * - `openRead`: a read handle on the file's current version (see read-handle.ts); NotFound,
 *   IsADirectory.
 * - `hash`: lower-case hex digest of the file's bytes; from a stored value when the file has one
 *   (`features.storedHashes`), otherwise by reading the file.
 * - `about`: space figures, absent when unknown (`features.space`).
 * - Every operation with a `signal` rejects with the signal's reason once it is aborted.
 *
 * Optional capabilities are optional methods: a caller tests `if (storage.copy)` and takes the
 * fast path when it is there (rclone's Copier/Mover pattern, checked by the compiler).
 */
export interface Storage {
  /** A short human description, e.g. `s3://bucket/prefix` or `/srv/data`. */
  readonly description: string;
  readonly features: StorageFeatures;

  stat(path: StoragePath, options?: OpOptions): Promise<Entry>;
  list(path: StoragePath, options?: ListOptions): AsyncIterable<Entry>;
  /**
   * Optional: `list` a batch (S3: a page) at a time, the same entries in the same order with the
   * same errors, for a caller that handles thousands of entries in bulk (`ferry ls`: a promise
   * per entry per generator layer was most of its CPU per key). Batches are never empty.
   */
  listBatches?(path: StoragePath, options?: ListOptions): AsyncIterable<Entry[]>;
  read(path: StoragePath, options?: ReadOptions): Promise<Readable>;
  write(path: StoragePath, body: WriteBody, options?: WriteOptions): Promise<Entry>;
  remove(path: StoragePath, options?: OpOptions): Promise<void>;
  mkdir(path: StoragePath, options?: OpOptions): Promise<void>;
  rmdir(path: StoragePath, options?: OpOptions): Promise<void>;
  openRead(path: StoragePath, options?: OpenReadOptions): Promise<ReadHandle>;
  hash(path: StoragePath, algorithm: HashAlgorithm, options?: OpOptions): Promise<string>;
  about(options?: OpOptions): Promise<SpaceInfo>;

  /** Server-side copy of a file, replacing `to`; keeps content type and metadata. */
  copy?(from: StoragePath, to: StoragePath, options?: OpOptions): Promise<Entry>;
  /**
   * Move a file or a folder. A file replaces a file at `to`; a folder needs `to` not to exist
   * (AlreadyExists) unless `to` is the target of an interrupted rename of the same folder, which
   * this call then finishes. Interrupting a rename never loses a file.
   */
  rename?(from: StoragePath, to: StoragePath, options?: OpOptions): Promise<void>;
  /**
   * Server-side copy of a file from another storage of the same kind and account (another bucket
   * on the same S3 endpoint with the same credentials). The source is asked through its own
   * wrappers, with `source.serverSideSource(from)`, never by reaching past them: a wrapper that
   * refuses (or doesn't forward it) refuses the copy. Resolves `undefined` when it can't copy
   * from `source` server-side; the caller then streams the bytes instead (through `source.read`).
   */
  copyFrom?(
    source: Storage,
    from: StoragePath,
    to: StoragePath,
    options?: OpOptions,
  ): Promise<Entry | undefined>;
  /**
   * The source side of a server-side copy: an opaque handle naming the file at `path`, which
   * `copyFrom` of a storage of the same kind and account recognises. Handing it out is a read:
   * a wrapper forwards it only after the checks it makes for `read` (a permission wrapper checks
   * read access here), and a wrapper that doesn't forward it makes copies from it stream.
   */
  serverSideSource?(path: StoragePath): Promise<ServerSideSource>;
  /**
   * Copy a file into the local file `localFile` (an absolute path), the fastest way the backend
   * has (S3: ranged GETs in parallel, each written at its offset), resumably: an interrupted run
   * (even SIGKILL) leaves `localFile.ferry-download` and its `.json` record, which the same call
   * continues later. Ends with the file in place, with the entry's mtime. See DownloadToOptions.
   */
  downloadTo?(path: StoragePath, localFile: string, options?: DownloadToOptions): Promise<DownloadToResult>;
  /**
   * Abort the unfinished writes below the folder `path` that a backend keeps server-side (S3:
   * multipart uploads) begun at or after `options.since`, for files `options.only` accepts; the
   * files themselves are left alone. Used when a later run has finished an interrupted tree copy:
   * what the interrupted run began and nobody resumed can never complete. Resolves the count.
   */
  abortUnfinishedWrites?(path: StoragePath, options: AbortUnfinishedOptions): Promise<number>;
  /** Record a file's modification time. */
  setModTime?(path: StoragePath, mtime: Date, options?: OpOptions): Promise<void>;
  /** Remove a folder and everything below it (a fast path for `rm -r`). NotFound if missing. */
  removeTree?(path: StoragePath, options?: OpOptions): Promise<void>;
  /** Open a file for writing at offsets, many calls, then close or abort (handles.ts). */
  openWrite?(path: StoragePath, options?: OpenWriteOptions): Promise<WriteHandle>;
  /**
   * A URL anyone holding it may use without credentials, until it expires, to download (GET) or
   * upload (PUT) the file at `path` (S3: a SigV4 presigned URL, at most 7 days). A wrapper forwards
   * it only after the check it makes for `read` (GET) or `write` (PUT).
   */
  presign?(path: StoragePath, options: PresignOptions): Promise<PresignedUrl>;
  /** The file's address without any signature (S3: the object URL; it works if the object is public). */
  publicUrl?(path: StoragePath): Promise<string>;
  /** What S3 keeps beside a file's bytes: headers, storage class, encryption, metadata, restore state. */
  attributes?(path: StoragePath, options?: OpOptions): Promise<FileAttributes>;
  /**
   * Change a file's headers, user metadata or storage class in place, keeping everything else
   * (S3: one server-side copy onto itself, keeping class and encryption unless changed). Resolves
   * the new attributes.
   */
  updateAttributes?(
    path: StoragePath,
    changes: AttributeChanges,
    options?: OpOptions,
  ): Promise<FileAttributes>;
  /** Release connections, timers and files. */
  close?(): Promise<void>;
}

/** A file's attributes beyond its entry (S3: what a HEAD tells). */
export interface FileAttributes {
  contentType?: string;
  cacheControl?: string;
  contentDisposition?: string;
  contentEncoding?: string;
  contentLanguage?: string;
  expires?: string;
  storageClass: string;
  /** `AES256`, `aws:kms (key id)`, `SSE-C`, or undefined when the store says none. */
  encryption?: string;
  /** User metadata (names in lower case), Ferry's own (`mtime`, `ferry-sha256`) included. */
  metadata: Record<string, string>;
  /** Archived objects (Glacier, Deep Archive): a restore under way, or a restored copy's expiry. */
  restore?: { ongoing: boolean; expires?: Date };
}

/** What `updateAttributes` changes; absent fields are kept, `null` removes a header or a name. */
export interface AttributeChanges {
  /** Set (a string) or remove (null) user metadata names. */
  metadata?: Record<string, string | null>;
  contentType?: string;
  cacheControl?: string | null;
  contentDisposition?: string | null;
  storageClass?: string;
}

export interface PresignOptions {
  method?: 'GET' | 'PUT';
  /** Seconds the URL is valid (S3: 1 … 604800). */
  expiresIn: number;
  /** PUT: the Content-Type the uploader must send (signed into the URL). */
  contentType?: string;
}

export interface PresignedUrl {
  url: string;
  method: 'GET' | 'PUT';
  expiresAt: Date;
  /** Headers whoever uses the URL must send as they are (SSE-C key headers, a PUT's Content-Type). */
  headers: Record<string, string>;
  /** Set when the URL stops working before `expiresAt`: it was signed with temporary credentials. */
  credentialsExpireAt?: Date;
}

/**
 * What `serverSideSource` returns: opaque to everyone but the backend kind that made it, which
 * checks it is its own (`instanceof`) and of the same account before copying from it.
 */
export interface ServerSideSource {
  /** The backend kind that made it (e.g. `s3`), for messages. */
  readonly kind: string;
}

export interface DownloadToOptions {
  /** The file's `stat` when the caller has it: its size, and the version (ETag) to pin reads to. */
  known?: Entry;
  /** Called with each part's size as it lands in the file (and once with what a resume kept). */
  onBytes?: (bytes: number) => void;
  /** Hash the whole file at the end even when the source declares no SHA-256. */
  hashAll?: boolean;
  /** Aborting keeps the partial file and its record: the same call later continues from them. */
  signal?: AbortSignal;
}

export interface AbortUnfinishedOptions {
  since: Date;
  /** Only the writes of these files (paths in the storage). */
  only?: (path: StoragePath) => boolean;
}

export interface DownloadToResult {
  /** Bytes that were already on disk from an interrupted earlier run (0 for a fresh download). */
  resumedBytes: number;
  /** SHA-256 (hex) of the whole file, when it was computed (declared by the source, or hashAll). */
  sha256?: string;
}

/**
 * Wrappers (checkedStorage, later quotas or metrics) keep the storage they wrap here, so a backend
 * can recognise another storage of its own kind behind any number of wrappers.
 */
export const WRAPPED = Symbol('ferry.wrapped');

/**
 * The innermost backend behind wrappers. Never use it to reach past wrappers for access to
 * files (that would bypass what they check): capabilities such as `serverSideSource` are asked
 * through the wrappers.
 */
export function unwrapStorage(storage: Storage): Storage {
  let s = storage as Storage & { [WRAPPED]?: Storage };
  while (s[WRAPPED]) s = s[WRAPPED] as Storage & { [WRAPPED]?: Storage };
  return s;
}

/** The names of the optional capabilities, for listings such as `ferry doctor`. */
export const capabilityNames = [
  'copy',
  'copyFrom',
  'rename',
  'setModTime',
  'removeTree',
  'openWrite',
  'serverSideSource',
  'downloadTo',
  'abortUnfinishedWrites',
  'presign',
  'publicUrl',
  'attributes',
  'updateAttributes',
] as const;
export type Capability = (typeof capabilityNames)[number];

export function capabilitiesOf(storage: Storage): Capability[] {
  return capabilityNames.filter((name) => typeof storage[name] === 'function');
}
