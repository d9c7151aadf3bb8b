import type { Readable } from 'node:stream';
import type { EffectiveUser } from '../accounts/types.js';
import type { OpenWriteOptions, WriteHandle } from '../storage/handles.js';
import type { ReadHandle } from '../storage/read-handle.js';
import type { Entry, HashAlgorithm, SpaceInfo, WriteBody } from '../storage/types.js';

/**
 * The contract between the protocol servers and the session layer (src/session/). A protocol
 * module logs a client in through `SessionManager.login`, then calls `Session` methods with the
 * client's paths; it never touches Storage or S3 itself.
 *
 * Paths are what the client sent, as virtual absolute paths (`/docs/a.txt`); relative ones are
 * taken from `/`. The session resolves them once: `.`/`..` lexically (never above `/`: the
 * chroot), the longest mount prefix, then the permission for the operation at that path. Every
 * method throws StorageError: PermissionDenied (the user may not: the message names the
 * permission, never a bucket, key prefix or IAM detail), QuotaExceeded, and the Storage codes.
 * Every operation emits one SessionEvent when it ends, success or failure.
 */
export interface Session {
  readonly id: string;
  readonly user: EffectiveUser;
  readonly protocol: string;
  readonly remote: string;

  stat(path: string, options?: { signal?: AbortSignal }): Promise<Entry>;
  /** A folder's entries, page by page (mount points appear as folders in their parent). */
  list(
    path: string,
    options?: { startAfter?: string; limit?: number; signal?: AbortSignal },
  ): AsyncIterable<Entry>;
  /** Download: the bytes of a file (a range), throttled to the user's bandwidth. */
  read(path: string, options?: { offset?: number; length?: number; signal?: AbortSignal }): Promise<Readable>;
  /** A read handle (SFTP, HTTP Range); reads through it are throttled and counted. */
  openRead(path: string, options?: { signal?: AbortSignal }): Promise<ReadHandle>;
  /** Upload a whole file from a stream: `upload` (new) or `overwrite` (existing) permission; quota. */
  write(
    path: string,
    body: WriteBody,
    options?: { size?: number; mtime?: Date; signal?: AbortSignal },
  ): Promise<Entry>;
  /** A write handle (handles.ts): permission by mode, quota checked as bytes arrive and at close. */
  openWrite(path: string, options?: OpenWriteOptions): Promise<WriteHandle>;
  remove(path: string, options?: { signal?: AbortSignal }): Promise<void>;
  mkdir(path: string, options?: { signal?: AbortSignal }): Promise<void>;
  rmdir(path: string, options?: { signal?: AbortSignal }): Promise<void>;
  /** Rename a file or folder; `replace: false` fails with AlreadyExists when `to` exists. */
  rename(from: string, to: string, options?: { replace?: boolean; signal?: AbortSignal }): Promise<void>;
  /** Server-side copy where possible (`copy-data`), else streamed; quota applies. */
  copy(from: string, to: string, options?: { signal?: AbortSignal }): Promise<Entry>;
  setModTime(path: string, mtime: Date, options?: { signal?: AbortSignal }): Promise<void>;
  /** chmod/chown: succeeds doing nothing, or PermissionDenied, per `user.setstatMode`. */
  setMode(path: string): Promise<void>;
  hash(path: string, algorithm: HashAlgorithm, options?: { signal?: AbortSignal }): Promise<string>;
  /** Space as the user sees it: from the quota when set, else from the storage of `path`. */
  about(path?: string): Promise<SpaceInfo>;
  /** Log out: aborts open write handles (nothing left behind), closes read handles. Idempotent. */
  close(): Promise<void>;
}

export interface LoginRequest {
  username: string;
  protocol: string;
  /** The client's address (for IP allow/deny lists, bans and the audit log). */
  remote: string;
  password?: string;
  publicKey?: { algorithm: string; data: Buffer };
  /** Already authenticated by the caller (an API key or cookie of this user). */
  preauthenticated?: boolean;
}

export interface SessionManager {
  /**
   * Authenticate and open a session. PermissionDenied with one message for every failure that a
   * client must not tell apart (unknown user, wrong password, disabled, expired); the reason goes
   * to the audit log only. Refused while banned (the defender), from a denied address, beyond the
   * user's max sessions, or once `shutdown` began.
   */
  login(request: LoginRequest): Promise<Session>;
  /** Sessions open on this node. */
  active(): Session[];
  /**
   * Stop taking logins, give open transfers `graceMs` to finish, then abort what remains (no
   * partial object, no forgotten multipart upload) and close every session.
   */
  shutdown(graceMs: number): Promise<void>;
  /** Subscribe to every session's events (audit log, metrics, later event rules). */
  onEvent(listener: (event: SessionEvent) => void): () => void;
}

export interface SessionEvent {
  kind:
    | 'login'
    | 'login-failed'
    | 'logout'
    | 'upload'
    | 'download'
    | 'delete'
    | 'rename'
    | 'mkdir'
    | 'rmdir'
    | 'copy'
    | 'set-times'
    | 'list';
  username: string;
  protocol: string;
  remote: string;
  sessionId?: string;
  path?: string;
  targetPath?: string;
  bytes?: number;
  durationMs: number;
  /** `ok`, or the StorageError code. */
  result: string;
  /** login-failed: why (unknown user, bad password, disabled, expired, address, banned): audit only, never told to the client. */
  reason?: string;
  at: Date;
}
