import type { S3Client } from '@aws-sdk/client-s3';
import { StorageError, type StorageErrorCode } from '../storage/errors.js';

/** How long each Glacier restore tier takes, per AWS's documentation, for messages. */
export const restoreTimes =
  'Expedited 1–5 minutes (GLACIER only), Standard 3–5 hours (12 h for DEEP_ARCHIVE), Bulk 5–12 hours (48 h for DEEP_ARCHIVE)';

/** The IAM action a user needs for each S3 API call (for "access denied" messages and doctor). */
export const iamActionFor: Record<string, string> = {
  RestoreObject: 's3:RestoreObject',
  HeadObject: 's3:GetObject',
  GetObject: 's3:GetObject',
  PutObject: 's3:PutObject',
  CopyObject: 's3:PutObject (and s3:GetObject on the source)',
  UploadPartCopy: 's3:PutObject (and s3:GetObject on the source)',
  CreateMultipartUpload: 's3:PutObject',
  UploadPart: 's3:PutObject',
  CompleteMultipartUpload: 's3:PutObject',
  AbortMultipartUpload: 's3:AbortMultipartUpload',
  ListParts: 's3:ListMultipartUploadParts',
  ListMultipartUploads: 's3:ListBucketMultipartUploads',
  DeleteObject: 's3:DeleteObject',
  DeleteObjects: 's3:DeleteObject',
  ListObjectsV2: 's3:ListBucket',
  ListObjects: 's3:ListBucket',
  HeadBucket: 's3:ListBucket',
  GetBucketLocation: 's3:GetBucketLocation',
  GetBucketVersioning: 's3:GetBucketVersioning',
  ListObjectVersions: 's3:ListBucketVersions',
  GetBucketLifecycleConfiguration: 's3:GetLifecycleConfiguration',
  PutBucketLifecycleConfiguration: 's3:PutLifecycleConfiguration',
};

interface SdkError {
  name?: string;
  Code?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  $retryable?: unknown;
}

export interface S3CallContext {
  /** The S3 API operation, e.g. `PutObject`. */
  operation: string;
  bucket: string;
  /** Storage path the call was about (for the error's `path`). */
  path?: string;
  /** Full key, for the message. */
  key?: string;
}

/**
 * Translate an AWS SDK error into a StorageError a user can act on: which bucket or key is
 * missing, which IAM action was refused, whether the endpoint could be reached at all.
 */
export function translateS3Error(err: unknown, ctx: S3CallContext): StorageError | unknown {
  if (err instanceof StorageError) return err;
  const e = (err ?? {}) as SdkError;
  if (e.name === 'AbortError') return err;
  const name = e.name ?? e.Code ?? '';
  const status = e.$metadata?.httpStatusCode;
  const where = ctx.key !== undefined ? `s3://${ctx.bucket}/${ctx.key}` : `s3://${ctx.bucket}`;
  const make = (code: StorageErrorCode, message: string, retryable?: boolean, missingRoot?: boolean) =>
    new StorageError(code, message, { path: ctx.path, cause: err, retryable, missingRoot });

  const net = networkCode(err);
  const proxy = proxyOf(err);
  if (proxy) {
    return make(
      'Transient',
      `the HTTP proxy ${proxy} failed (${net ?? 'refused'}) during ${ctx.operation} on ${where}: ${(err as Error).message}`,
      net !== undefined,
    );
  }
  if (net) {
    return make('Transient', `S3 endpoint unreachable (${net}) during ${ctx.operation} on ${where}`, true);
  }
  if (refusedAnonymous(err)) {
    return make(
      'PermissionDenied',
      `access denied: anonymous (unsigned) requests are not allowed for ${ctx.operation} on ${where}; give credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a profile, --credentials, or s3://KEY:SECRET@host/…)`,
    );
  }
  switch (name) {
    case 'NoSuchBucket':
      return make('NotFound', `no such bucket: ${ctx.bucket}`, false, true);
    case 'NoSuchKey':
    case 'NotFound':
      return make('NotFound', `no such file or folder: ${where}`);
    case 'NoSuchUpload':
      return make('NotFound', `no such multipart upload on ${where}`);
    case 'AccessDenied':
    case 'AllAccessDisabled':
    case 'Forbidden':
      return make(
        'PermissionDenied',
        `access denied: ${ctx.operation} on ${where} was refused; the credentials need ${iamActionFor[ctx.operation] ?? `s3:${ctx.operation}`}`,
      );
    case 'InvalidAccessKeyId':
      return make(
        'PermissionDenied',
        `the S3 store does not know this access key (${ctx.operation} on ${where})`,
      );
    case 'SignatureDoesNotMatch':
      return make(
        'PermissionDenied',
        `wrong secret key: the S3 store refused the request signature (${where})`,
      );
    case 'RequestTimeTooSkewed':
      return make(
        'PermissionDenied',
        `this machine's clock is too far from the S3 store's: fix the clock (NTP)`,
      );
    case 'ExpiredToken':
    case 'TokenRefreshRequired':
      return make('PermissionDenied', `the S3 credentials have expired (${ctx.operation} on ${where})`, true);
    case 'PreconditionFailed':
      return make('Conflict', `changed by someone else meanwhile: ${where}`);
    case 'EntityTooLarge':
    case 'QuotaExceeded':
      return make('QuotaExceeded', `the S3 store refused the size of ${where} (${name})`);
    case 'KeyTooLongError':
    case 'InvalidObjectName':
      return make('InvalidArgument', `name not accepted by the S3 store: ${where} (${name})`);
    case 'InvalidObjectState':
      return make(
        'PermissionDenied',
        `${where} is archived (Glacier / Deep Archive) and not restored: run \`ferry restore ${where} --days N\` first and read it once the restore is done (${restoreTimes}); \`ferry stat\` shows the restore state`,
      );
    case 'AccessControlListNotSupported':
      return make(
        'NotSupported',
        `ACLs are disabled on bucket ${ctx.bucket} (Object Ownership "bucket owner enforced"): ${ctx.operation} on ${where} may not set an ACL; drop --acl (or the connection's acl setting) and grant access by bucket policy`,
      );
    case 'NotImplemented':
      return make('NotSupported', `the S3 store does not implement ${ctx.operation} (on ${where})`, false);
    case 'SlowDown':
    case 'ServiceUnavailable':
    case 'InternalError':
    case 'RequestTimeout':
      return make(
        'Transient',
        `S3 store busy or failing (${name}) during ${ctx.operation} on ${where}`,
        true,
      );
  }
  if (status === 404) return make('NotFound', `no such file or folder: ${where}`);
  if (status === 403) {
    return make(
      'PermissionDenied',
      `access denied: ${ctx.operation} on ${where} was refused; the credentials need ${iamActionFor[ctx.operation] ?? `s3:${ctx.operation}`}`,
    );
  }
  if (status === 301 || name === 'PermanentRedirect' || name === 'AuthorizationHeaderMalformed') {
    return make(
      'InvalidArgument',
      `bucket ${ctx.bucket} is in another region than the one configured (${name || status})`,
    );
  }
  if (status === 501) {
    return make('NotSupported', `the S3 store does not implement ${ctx.operation} (on ${where})`, false);
  }
  if (
    status === 400 &&
    (ctx.operation === 'HeadObject' || ctx.operation === 'GetObject') &&
    !e.Code &&
    (!name || name === 'Unknown' || name === 'UnknownError' || name === 'BadRequest')
  ) {
    // A HEAD has no body to say why; the usual cause is an object encrypted with a customer key.
    return make(
      'InvalidArgument',
      `the S3 store refused to read ${where} (400 Bad Request): if it is encrypted with a customer-provided key (SSE-C), give that key with --sse-c-key`,
    );
  }
  if (status !== undefined && status >= 500) {
    return make('Transient', `S3 store error ${status} (${name}) during ${ctx.operation} on ${where}`, true);
  }
  const detail = [name, e.message].filter(Boolean).join(': ') || String(err);
  return make('Transient', `${ctx.operation} on ${where} failed: ${detail}`, Boolean(e.$retryable));
}

/**
 * True when an SDK error (or a StorageError) says the object, upload or bucket is not there: the
 * one not-found test of the S3 code (HEAD answers a bare 404 named `NotFound`, GET `NoSuchKey`,
 * multipart calls `NoSuchUpload`).
 */
/** Run one S3 call, its failure translated (translateS3Error) for `ctx`. */
export async function withS3Errors<T>(ctx: S3CallContext, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw translateS3Error(err, ctx);
  }
}

export function isNotFound(err: unknown): boolean {
  if (err instanceof StorageError) return err.code === 'NotFound';
  const e = (err ?? {}) as SdkError;
  const name = e.name ?? e.Code;
  return (
    name === 'NotFound' ||
    name === 'NoSuchKey' ||
    name === 'NoSuchUpload' ||
    e.$metadata?.httpStatusCode === 404
  );
}

/** Set on errors of clients that send unsigned requests (see `markAnonymousErrors`). */
const ANONYMOUS = Symbol('ferry.anonymousRequest');

/**
 * Tag the errors of an anonymous client, so translateS3Error can give the real reason for a
 * refusal. Stores refuse unsigned requests differently: RGW with 403 AccessDenied (which would
 * read "the credentials need s3:…"), Swift's s3api by passing them to Swift's own API, which
 * answers 400 or 412 with an HTML page (an SDK "XML parse error", or for a HEAD a bare 400 that
 * looks like a missing SSE-C key).
 */
export function markAnonymousErrors(client: S3Client): void {
  client.middlewareStack.add(
    (next) => async (args) => {
      try {
        return await next(args);
      } catch (err) {
        if (err && typeof err === 'object') (err as Record<symbol, boolean>)[ANONYMOUS] = true;
        throw err;
      }
    },
    { step: 'initialize', name: 'ferryMarkAnonymous' },
  );
}

/** A refusal of an unsigned request: 401/403, or a 4xx that is not an S3 error document. */
function refusedAnonymous(err: unknown): boolean {
  const e = err as SdkError & Record<symbol, boolean | undefined>;
  if (!e?.[ANONYMOUS]) return false;
  const status = e.$metadata?.httpStatusCode;
  if (status === 401 || status === 403) return true;
  if (status === undefined || status < 400 || status >= 500 || status === 404) return false;
  return !e.Code; // Swift's HTML answer: no S3 error code (name Unknown, or an XML parse error)
}

/** The proxy (as displayed, without password) an error came from (proxy.ts marks them). */
function proxyOf(err: unknown): string | undefined {
  for (
    let e = err as { proxy?: unknown; cause?: unknown } | undefined, i = 0;
    e && i < 5;
    e = e.cause as never, i++
  ) {
    if (typeof e.proxy === 'string') return e.proxy;
  }
  return undefined;
}

function networkCode(err: unknown): string | undefined {
  for (
    let e = err as { code?: string; cause?: unknown } | undefined, i = 0;
    e && i < 5;
    e = e.cause as never, i++
  ) {
    if (
      typeof e.code === 'string' &&
      /^(ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|EPIPE)$/.test(e.code)
    ) {
      return e.code;
    }
  }
  return undefined;
}
