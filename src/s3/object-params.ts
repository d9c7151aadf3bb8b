import type { ObjectCannedACL, ServerSideEncryption, StorageClass } from '@aws-sdk/client-s3';
import { type S3Connection, sseCustomerKeyBytes } from './connection.js';

/** The SSE-C headers of one call (the SDK adds the key's MD5). */
export interface SseCustomerParams {
  SSECustomerAlgorithm?: string;
  SSECustomerKey?: string;
}

export interface CopySourceSseParams {
  CopySourceSSECustomerAlgorithm?: string;
  CopySourceSSECustomerKey?: string;
}

/**
 * What each S3 call needs from a connection's object settings, computed once per connection:
 * - `create`: PutObject, CreateMultipartUpload, CopyObject's destination — storage class, SSE-S3
 *   or SSE-KMS (+ key id), SSE-C, canned ACL, Cache-Control, requester pays (default metadata is
 *   in `metadata`, merged by the caller under the object's own);
 * - `part`: UploadPart and UploadPartCopy — SSE-C must be repeated on every part;
 * - `read`: GetObject and HeadObject — SSE-C (S3 refuses to read or even HEAD without the key);
 * - `copySource`: CopyObject / UploadPartCopy reading an SSE-C source;
 * - `payer`: every other call (List, Delete, multipart bookkeeping) — requester pays.
 */
export interface ObjectParams {
  create: {
    StorageClass?: StorageClass;
    ServerSideEncryption?: ServerSideEncryption;
    SSEKMSKeyId?: string;
    ACL?: ObjectCannedACL;
    CacheControl?: string;
    RequestPayer?: 'requester';
  } & SseCustomerParams;
  metadata: Record<string, string>;
  part: SseCustomerParams & { RequestPayer?: 'requester' };
  read: SseCustomerParams & { RequestPayer?: 'requester' };
  copySource: CopySourceSseParams;
  payer: { RequestPayer?: 'requester' };
}

export function objectParamsFor(conn: S3Connection): ObjectParams {
  const payer = conn.requesterPays ? { RequestPayer: 'requester' as const } : {};
  const keyBytes = conn.sseCustomerKey ? sseCustomerKeyBytes(conn.sseCustomerKey) : undefined;
  const ssec: SseCustomerParams = keyBytes
    ? { SSECustomerAlgorithm: 'AES256', SSECustomerKey: keyBytes.toString('base64') }
    : {};
  return {
    create: dropUndefined({
      StorageClass: conn.storageClass as StorageClass | undefined,
      ServerSideEncryption: conn.sse as ServerSideEncryption | undefined,
      SSEKMSKeyId: conn.sseKmsKeyId,
      ACL: conn.acl,
      CacheControl: conn.cacheControl,
      ...ssec,
      ...payer,
    }),
    metadata: { ...conn.metadata },
    part: { ...ssec, ...payer },
    read: { ...ssec, ...payer },
    copySource: keyBytes
      ? { CopySourceSSECustomerAlgorithm: 'AES256', CopySourceSSECustomerKey: keyBytes.toString('base64') }
      : {},
    payer,
  };
}

function dropUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
