import { StorageError, type StorageErrorCode } from '../storage/errors.js';

/**
 * Exit codes, so scripts can tell what went wrong without parsing messages.
 * 0 ok · 1 other error · 2 bad usage or argument · 3 not found · 4 permission denied ·
 * 5 exists / not empty / wrong type · 6 unreachable or transient (worth retrying) · 130 interrupted
 */
const byCode: Record<StorageErrorCode, number> = {
  InvalidArgument: 2,
  NotFound: 3,
  PermissionDenied: 4,
  AlreadyExists: 5,
  NotEmpty: 5,
  NotADirectory: 5,
  IsADirectory: 5,
  Conflict: 5,
  NotSupported: 1,
  QuotaExceeded: 1,
  Transient: 6,
};

export function exitCodeFor(err: unknown): number {
  return err instanceof StorageError ? byCode[err.code] : 1;
}
