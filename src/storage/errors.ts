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
  /** NotFound of the storage itself (an S3 bucket), not of a path in it: nothing can be created there. */
  missingRoot?: boolean;
}

export class StorageError extends Error {
  override readonly name = 'StorageError';
  readonly code: StorageErrorCode;
  readonly path: string | undefined;
  readonly retryable: boolean;
  readonly missingRoot: boolean;

  constructor(code: StorageErrorCode, message: string, options: StorageErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.path = options.path;
    this.retryable = options.retryable ?? code === 'Transient';
    this.missingRoot = options.missingRoot ?? false;
  }

  /** True when `err` is a StorageError with one of the given codes. */
  static is(err: unknown, ...codes: StorageErrorCode[]): err is StorageError {
    return err instanceof StorageError && (codes.length === 0 || codes.includes(err.code));
  }
}

/**
 * A listing's folder that is not there (yet): a sync or job destination counts it as empty. Not a
 * missing bucket, under which every write would fail.
 */
export function isAbsentFolder(err: unknown): boolean {
  return StorageError.is(err, 'NotFound') && !err.missingRoot;
}

export function notFound(path: string, what = 'no such file or folder'): StorageError {
  return new StorageError('NotFound', `${what}: /${path}`, { path });
}
