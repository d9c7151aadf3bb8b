import {
  AbortMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  type HeadObjectCommandOutput,
  type S3Client,
  type StorageClass,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { forEachConcurrent } from '../util/concurrency.js';
import { completeUpload } from './complete-upload.js';
import type { ObjectParams } from './object-params.js';
import { PinnedPartCopier } from './part-copy.js';

export interface CopySource {
  bucket: string;
  key: string;
  /** Copy this version of the key (a revert) instead of the current one. */
  versionId?: string;
  size: number;
  /** From a listing; used when there is no `head`. */
  storageClass?: string;
  /**
   * The source's HEAD, when the caller has it: then content type, caching headers, metadata,
   * storage class and SSE-KMS key are written explicitly (needed to change metadata, and for
   * multipart copies, which copy no metadata by themselves). Without it, a single CopyObject
   * keeps metadata server-side (MetadataDirective COPY): one request fewer per object.
   */
  head?: HeadObjectCommandOutput;
}

export interface CopyOptions {
  /** Use UploadPartCopy from this size on (S3's CopyObject stops at 5 GiB). */
  multipartThreshold: number;
  partSize: number;
  concurrency: number;
  /** Replace the user metadata (otherwise the source's is kept). */
  metadata?: Record<string, string>;
  /**
   * The copy is the same object under another name (a rename, or an in-place metadata update):
   * storage class (STANDARD too), SSE / SSE-KMS key, content type, caching headers and metadata
   * are the source's exactly, and the connection's defaults for new objects (class, SSE,
   * Cache-Control) do not apply. Needs the source `head`. Without it (a copy) the source's
   * settings win and the connection's defaults fill the gaps, a STANDARD source taking the
   * connection's class.
   */
  exact?: boolean;
  /**
   * The connection's object settings: defaults for what the source does not say (ACL, storage
   * class, SSE), SSE-C for the destination, every part and the copy source, requester pays.
   */
  objectParams?: ObjectParams;
}

/**
 * What an exact copy takes from the connection: only what is not a default for new objects —
 * the SSE-C key (the destination is written under the connection's key), the canned ACL (S3
 * does not copy ACLs) and requester pays.
 */
function exactBase(p: ObjectParams | undefined): Record<string, unknown> {
  if (!p) return {};
  const { SSECustomerAlgorithm, SSECustomerKey, ACL, RequestPayer } = p.create;
  return Object.fromEntries(
    Object.entries({ SSECustomerAlgorithm, SSECustomerKey, ACL, RequestPayer }).filter(
      ([, v]) => v !== undefined,
    ),
  );
}

/** `bucket/key[?versionId=V]` as the x-amz-copy-source header wants it: URL-encoded, `/` kept. */
export function copySourceOf(bucket: string, key: string, versionId?: string): string {
  const source = `${bucket}/${encodeURIComponent(key).replace(/%2F/g, '/')}`;
  return versionId ? `${source}?versionId=${encodeURIComponent(versionId)}` : source;
}

/**
 * Server-side copy of one object that keeps what a rename must keep: content type, caching
 * headers, user metadata, storage class and SSE-KMS key. Objects from `multipartThreshold` on are
 * copied in parallel parts (UploadPartCopy); a failed multipart copy is aborted, so no partial
 * object and no forgotten upload is left behind.
 */
export async function copyObject(
  client: S3Client,
  from: CopySource,
  to: { bucket: string; key: string },
  options: CopyOptions,
): Promise<{ etag?: string }> {
  const size = from.size;
  if ((size >= options.multipartThreshold || options.exact) && !from.head) {
    throw new Error('copyObject: a multipart or exact copy needs the source HEAD');
  }
  const h: Partial<HeadObjectCommandOutput> = from.head ?? {};
  const storageClass = h.StorageClass ?? from.storageClass;
  const kept = {
    ContentType: h.ContentType,
    CacheControl: h.CacheControl,
    ContentDisposition: h.ContentDisposition,
    ContentEncoding: h.ContentEncoding,
    ContentLanguage: h.ContentLanguage,
    Expires: h.Expires,
    Metadata: options.metadata ?? h.Metadata,
    // A HEAD on AWS omits the class of STANDARD objects.
    StorageClass: (options.exact
      ? (storageClass ?? 'STANDARD')
      : storageClass && storageClass !== 'STANDARD'
        ? storageClass
        : undefined) as StorageClass | undefined,
    ServerSideEncryption: h.ServerSideEncryption,
    SSEKMSKeyId: h.ServerSideEncryption?.startsWith('aws:kms') ? h.SSEKMSKeyId : undefined,
    BucketKeyEnabled: h.ServerSideEncryption?.startsWith('aws:kms') ? h.BucketKeyEnabled : undefined,
  } as const;
  const CopySource = copySourceOf(from.bucket, from.key, from.versionId);
  const p = options.objectParams;
  // What the source says wins (a rename keeps storage class and SSE); the connection fills gaps.
  // Under SSE-C the destination is encrypted with the connection's key, never SSE-S3/KMS too.
  const dest: Record<string, unknown> = { ...(options.exact ? exactBase(p) : p?.create) };
  for (const [k, v] of Object.entries(kept)) if (v !== undefined) dest[k] = v;
  if (p?.create.SSECustomerKey) {
    delete dest.ServerSideEncryption;
    delete dest.SSEKMSKeyId;
  }
  const { CacheControl: _cc, ...createNoHeaders } = p?.create ?? {};
  const extra = { ...p?.copySource };

  if (size < options.multipartThreshold) {
    try {
      const res = await client.send(
        new CopyObjectCommand(
          from.head || options.metadata
            ? { Bucket: to.bucket, Key: to.key, CopySource, MetadataDirective: 'REPLACE', ...dest, ...extra }
            : {
                Bucket: to.bucket,
                Key: to.key,
                CopySource,
                ...createNoHeaders,
                StorageClass: kept.StorageClass ?? createNoHeaders.StorageClass,
                ...extra,
              },
        ),
      );
      return { etag: res.CopyObjectResult?.ETag };
    } catch (err) {
      // Ceph RGW 16 does not implement CopyObject from an SSE-C source (501) but does implement
      // UploadPartCopy: such a copy is done as a multipart upload of one part instead.
      const ssec = Boolean(p?.copySource.CopySourceSSECustomerKey);
      if (!(ssec && from.head && size > 0 && (err as { name?: string }).name === 'NotImplemented')) throw err;
    }
  }

  const { UploadId } = await client.send(
    new CreateMultipartUploadCommand({ Bucket: to.bucket, Key: to.key, ...dest }),
  );
  const sourceKey = p?.copySource.CopySourceSSECustomerKey;
  const pinned = new PinnedPartCopier(client, {
    bucket: from.bucket,
    key: from.key,
    versionId: from.versionId,
    etag: h.ETag,
    head: { ...p?.payer, ...(sourceKey && { SSECustomerAlgorithm: 'AES256', SSECustomerKey: sourceKey }) },
  });
  try {
    // Grow the part size so the copy stays within S3's 10,000 parts.
    const partSize = Math.max(options.partSize, Math.ceil(size / 10_000));
    const count = Math.ceil(size / partSize);
    const parts: { ETag?: string; PartNumber: number }[] = new Array(count);
    await forEachConcurrent(
      Array.from({ length: count }, (_, i) => i),
      options.concurrency,
      async (i) => {
        const start = i * partSize;
        const end = Math.min(size, start + partSize) - 1;
        const res = await pinned.send(
          new UploadPartCopyCommand({
            Bucket: to.bucket,
            Key: to.key,
            UploadId,
            PartNumber: i + 1,
            CopySource,
            CopySourceRange: `bytes=${start}-${end}`,
            ...p?.part,
            ...extra,
          }),
        );
        parts[i] = { ETag: res.CopyPartResult?.ETag, PartNumber: i + 1 };
      },
    );
    await pinned.verify();
    return await completeUpload(client, {
      bucket: to.bucket,
      key: to.key,
      uploadId: UploadId!,
      parts,
      payer: p?.payer,
      sseCustomer: p?.part,
    });
  } catch (err) {
    await client
      .send(new AbortMultipartUploadCommand({ Bucket: to.bucket, Key: to.key, UploadId, ...p?.payer }))
      .catch(() => {});
    throw err;
  }
}
