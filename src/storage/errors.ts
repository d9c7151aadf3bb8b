/**
 * The one error type every Storage backend throws. Backends translate their native errors
 * (ENOENT, NoSuchKey, AccessDenied …) where they arise; each protocol maps `code` to its own
 * status in one table. The set of codes is closed on purpose: a front end must be able to map
 * every one of them.
 */
export const StorageErrorCodes = [
  'NotFound',
  'AlreadyExists',
  'NotEmpty',
  'NotADirectory',
  'IsADirectory',
  'PermissionDenied',
  'InvalidArgument',
  'NotSupported',
  'Conflict',
  'QuotaExceeded',
  'Transient',
] as const;

export type StorageErrorCode = (typeof StorageErrorCodes)[number];

export interface StorageErrorOptions {
  /** The path (relative to the storage root) the operation was about. */
  path?: string;
  cause?: unknown;
  /** True when the same call may succeed if tried again (network, throttling, 5xx). */
  retryable?: boolean;
}

export class StorageError extends Error {
  override readonly name = 'StorageError';
  readonly code: StorageErrorCode;
  readonly path: string | undefined;
  readonly retryable: boolean;

  constructor(code: StorageErrorCode, message: string, options: StorageErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.path = options.path;
    this.retryable = options.retryable ?? code === 'Transient';
  }

  /** True when `err` is a StorageError with one of the given codes. */
  static is(err: unknown, ...codes: StorageErrorCode[]): err is StorageError {
    return err instanceof StorageError && (codes.length === 0 || codes.includes(err.code));
  }
}

export function notFound(path: string, what = 'no such file or folder'): StorageError {
  return new StorageError('NotFound', `${what}: /${path}`, { path });
}
