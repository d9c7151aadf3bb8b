import { StorageError, type StorageErrorCode } from '../storage/errors.js';

/**
 * What a client may learn from an error. The session layer's own errors name the permission and
 * the virtual path and pass as they are. A backend's error names where it really happened (an
 * S3 message carries `s3://bucket/prefix/key` and the IAM action): the client gets the same
 * code with a message naming only its own virtual path, and the original stays as `cause` for
 * the server's log.
 */

const OWN = new WeakSet<object>();
/** The session layer's own errors. */
function isOwn(err: unknown): boolean {
  return typeof err === 'object' && err !== null && OWN.has(err);
}

const GENERIC: Record<StorageErrorCode, string> = {
  NotFound: 'no such file or folder',
  AlreadyExists: 'already exists',
  NotEmpty: 'folder not empty',
  NotADirectory: 'not a folder',
  IsADirectory: 'is a folder',
  PermissionDenied: 'permission denied by the storage',
  InvalidArgument: 'invalid request',
  NotSupported: 'not supported here',
  Conflict: 'changed by someone else meanwhile',
  QuotaExceeded: 'quota exceeded',
  Transient: 'storage temporarily unavailable, try again',
};

/** The error to hand to the client for an operation on `vpath`. */
export function publicError(err: unknown, vpath: string): unknown {
  if (!(err instanceof StorageError) || isOwn(err)) return err;
  let message = `${GENERIC[err.code]}: ${vpath}`;
  // A backend's argument errors say what was wrong with the request (a write that ended early, a
  // bad offset): kept when they carry nothing about the store, with the virtual path in them.
  if (err.code === 'InvalidArgument' && !/s3:\/\/|bucket/i.test(err.message)) {
    message = err.path !== undefined ? err.message.split(`/${err.path}`).join(vpath) : err.message;
  }
  const out = new StorageError(err.code, message, { path: vpath, cause: err, retryable: err.retryable });
  OWN.add(out);
  return out;
}

/** Mark errors made by the session layer (they already speak in virtual paths). */
export function own<E extends StorageError>(err: E): E {
  OWN.add(err);
  return err;
}

/** A StorageError of the session layer: its message names virtual paths and permissions only. */
export function sessionError(
  code: StorageErrorCode,
  message: string,
  options?: ConstructorParameters<typeof StorageError>[2],
): StorageError {
  return own(new StorageError(code, message, options));
}
