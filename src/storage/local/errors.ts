import { StorageError, type StorageErrorCode } from '../errors.js';
import type { StoragePath } from '../types.js';

/** errno → StorageError code. */
const codes: Record<string, StorageErrorCode> = {
  ENOENT: 'NotFound',
  EEXIST: 'AlreadyExists',
  ENOTEMPTY: 'NotEmpty',
  ENOTDIR: 'NotADirectory',
  EISDIR: 'IsADirectory',
  EACCES: 'PermissionDenied',
  EPERM: 'PermissionDenied',
  EROFS: 'PermissionDenied',
  ENAMETOOLONG: 'InvalidArgument',
  EINVAL: 'InvalidArgument',
  ENOSPC: 'QuotaExceeded',
  EDQUOT: 'QuotaExceeded',
  EBUSY: 'Conflict',
  EAGAIN: 'Transient',
  EMFILE: 'Transient',
  EIO: 'Transient',
};

/** The message's words for each code (the path follows). */
const words: Record<StorageErrorCode, string> = {
  NotFound: 'no such file or folder',
  AlreadyExists: 'already exists',
  NotEmpty: 'folder not empty',
  NotADirectory: 'not a folder',
  IsADirectory: 'is a folder',
  PermissionDenied: 'permission denied',
  InvalidArgument: 'invalid name',
  NotSupported: 'not supported',
  Conflict: 'busy',
  QuotaExceeded: 'no space left',
  Transient: 'I/O error',
};

/**
 * A file-system error as a StorageError about `path` (by its errno; anything unknown is
 * Transient). A StorageError or an abort passes through unchanged.
 */
export function translateLocalError(err: unknown, path: StoragePath): unknown {
  if (err instanceof StorageError) return err;
  const errno = (err as NodeJS.ErrnoException | undefined)?.code;
  if (errno === 'ABORT_ERR') return err;
  const code = (errno && codes[errno]) || 'Transient';
  return new StorageError(code, `${words[code]}: /${path}`, { path, cause: err });
}
