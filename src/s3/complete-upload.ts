import { createHash } from 'node:crypto';
import {
  type CompletedPart,
  CompleteMultipartUploadCommand,
  HeadObjectCommand,
  ListPartsCommand,
  type S3Client,
} from '@aws-sdk/client-s3';

export interface CompleteRequest {
  bucket: string;
  key: string;
  uploadId: string;
  /** Any order; sorted here. */
  parts: CompletedPart[];
  /** `*`: only when no object exists (stores that honour it: AWS; RGW 16 ignores it). */
  ifNoneMatch?: string;
  payer?: { RequestPayer?: 'requester' };
  /** The object's SSE-C key (the HEAD that looks for it needs it). */
  sseCustomer?: { SSECustomerAlgorithm?: string; SSECustomerKey?: string; SSECustomerKeyMD5?: string };
  signal?: AbortSignal;
}

/**
 * CompleteMultipartUpload, told apart from a repeat of itself. A Complete whose answer comes
 * later than the idle timeout (a store assembling a large object) is sent again by the SDK; the
 * store has made the object meanwhile and may answer the repeat NoSuchUpload (MinIO; RGW answers
 * it with success), 412 when it was conditional (our own object is there now), or a 5xx. The
 * upload is done, then, when the object there is the one these parts make (its multipart ETag)
 * and the upload is gone (a Complete that made the object ended it). The ETag alone is not
 * enough: the same bytes in the same part sizes make the same ETag, so a file written again
 * unchanged has it before any Complete (test/s3/review-complete-same-bytes.test.ts: a Complete
 * failed outright was taken as done, its upload left behind). Otherwise the error stands (the
 * caller aborts the upload).
 */
export async function completeUpload(client: S3Client, r: CompleteRequest): Promise<{ etag?: string }> {
  const parts = [...r.parts].sort((a, b) => a.PartNumber! - b.PartNumber!);
  try {
    const res = await client.send(
      new CompleteMultipartUploadCommand({
        Bucket: r.bucket,
        Key: r.key,
        UploadId: r.uploadId,
        MultipartUpload: { Parts: parts },
        IfNoneMatch: r.ifNoneMatch,
        ...r.payer,
      }),
      { abortSignal: r.signal },
    );
    return { etag: res.ETag || undefined };
  } catch (err) {
    // Whatever the failure (the repeat may also meet a 5xx, tried again until the SDK gives
    // up), the first try may have made the object: one HEAD tells. Not when the caller aborted.
    const etag = r.signal?.aborted ? undefined : await madeAlready(client, r, parts);
    if (etag === undefined) throw err;
    return { etag };
  }
}

/** The object's ETag when it is the one `parts` make (the upload completed), else undefined. */
async function madeAlready(
  client: S3Client,
  r: CompleteRequest,
  parts: CompletedPart[],
): Promise<string | undefined> {
  const want = multipartEtag(parts);
  if (want === undefined) return undefined;
  const c = r.sseCustomer;
  const head = await client
    .send(
      new HeadObjectCommand({
        Bucket: r.bucket,
        Key: r.key,
        SSECustomerAlgorithm: c?.SSECustomerAlgorithm,
        SSECustomerKey: c?.SSECustomerKey,
        SSECustomerKeyMD5: c?.SSECustomerKeyMD5,
        ...r.payer,
      }),
    )
    .catch(() => undefined);
  const got = head?.ETag?.replace(/"/g, '').toLowerCase();
  if (got !== want) return undefined;
  return (await uploadGone(client, r)) ? head?.ETag : undefined;
}

/**
 * True only when the store says the upload no longer exists: 404 (AWS and MinIO answer
 * NoSuchUpload, RGW NoSuchKey); any doubt is false.
 */
async function uploadGone(client: S3Client, r: CompleteRequest): Promise<boolean> {
  try {
    await client.send(
      new ListPartsCommand({ Bucket: r.bucket, Key: r.key, UploadId: r.uploadId, MaxParts: 1, ...r.payer }),
    );
    return false;
  } catch (err) {
    const e = err as { name?: string; Code?: string; $metadata?: { httpStatusCode?: number } };
    return e.$metadata?.httpStatusCode === 404 || e.name === 'NoSuchUpload';
  }
}

/**
 * The ETag S3 gives a multipart object: the MD5 of the parts' MD5s (their ETags), `-` and the part
 * count. Undefined when a part's ETag is not an MD5 (some encrypted objects): then nothing is
 * taken for ours.
 */
export function multipartEtag(parts: CompletedPart[]): string | undefined {
  const md5s: Buffer[] = [];
  for (const p of parts) {
    const hex = p.ETag?.replace(/"/g, '').toLowerCase();
    if (!hex || !/^[0-9a-f]{32}$/.test(hex)) return undefined;
    md5s.push(Buffer.from(hex, 'hex'));
  }
  if (md5s.length === 0) return undefined;
  return `${createHash('md5').update(Buffer.concat(md5s)).digest('hex')}-${md5s.length}`;
}
