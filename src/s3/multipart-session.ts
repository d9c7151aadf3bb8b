import {
  AbortMultipartUploadCommand,
  type CompletedPart,
  CreateMultipartUploadCommand,
  type CreateMultipartUploadCommandInput,
  type PutObjectCommand,
  type S3Client,
  UploadPartCommand,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { completeUpload } from './complete-upload.js';
import { copySourceOf } from './copy.js';
import { isNotFound } from './errors.js';
import { withRetries } from './retry.js';

/** Object attributes for the new object (everything of CreateMultipartUpload but the names). */
export type CreateParams = Omit<CreateMultipartUploadCommandInput, 'Bucket' | 'Key'>;

/** Per-call parameters every part call needs: SSE-C's key and requester pays. */
export interface PartParams {
  SSECustomerAlgorithm?: string;
  SSECustomerKey?: string;
  SSECustomerKeyMD5?: string;
  RequestPayer?: 'requester';
}

export interface SessionTarget {
  bucket: string;
  key: string;
  /** CreateMultipartUpload's attributes (class, SSE, ACL, content type, metadata, payer). */
  params?: CreateParams;
  /** Sent on every UploadPart / UploadPartCopy (SSE-C must be repeated on each part). */
  partParams?: PartParams;
  /**
   * Requester pays for the bookkeeping calls (Complete, Abort): a requester-pays bucket refuses
   * them without it. Taken from `partParams.RequestPayer` / `params.RequestPayer` when not given.
   */
  payer?: { RequestPayer?: 'requester' };
  signal?: AbortSignal;
  /** Tries per part call (the SDK retries inside each try too). */
  partAttempts?: number;
}

/** Where an UploadPartCopy reads from: a byte range of an existing object, pinned by ETag. */
export interface CopyPartSource {
  bucket: string;
  key: string;
  /** Inclusive byte range. */
  from: number;
  to: number;
  /** The source's ETag: the part fails (412) if the source changed meanwhile. */
  ifMatch?: string;
  /** SSE-C key of the source (CopySourceSSECustomer*). */
  copySourceParams?: Record<string, string | undefined>;
}

/**
 * One multipart upload: create, parts (sent or copied server-side), complete or abort, with the
 * connection's per-call parameters on every call. The session holds no part bytes; the pump
 * (part-pump.ts) decides what is sent when. Used by the stream uploader (upload.ts) and the
 * S3 write handle alike.
 */
export class MultipartSession {
  uploadId: string | undefined;
  private readonly payer: { RequestPayer?: 'requester' };

  constructor(
    readonly client: S3Client,
    readonly target: SessionTarget,
    uploadId?: string,
  ) {
    this.uploadId = uploadId;
    const rp = target.payer?.RequestPayer ?? target.partParams?.RequestPayer ?? target.params?.RequestPayer;
    this.payer = rp ? { RequestPayer: rp } : {};
  }

  private get opts() {
    return { abortSignal: this.target.signal };
  }

  /**
   * Start the upload (once); resolves to its id. Not signalled: a signal firing while the request
   * is on the wire would drop the answer of an upload S3 may already have made, and with it the
   * id `abort` needs (the upload would stay in the bucket). Once it is made, the signal stops it.
   */
  async create(): Promise<string> {
    if (this.uploadId !== undefined) return this.uploadId;
    this.target.signal?.throwIfAborted();
    const { bucket, key, params } = this.target;
    const res = await this.client.send(
      new CreateMultipartUploadCommand({ Bucket: bucket, Key: key, ...params }),
    );
    this.uploadId = res.UploadId!;
    this.target.signal?.throwIfAborted();
    return this.uploadId;
  }

  /**
   * Send part `n`, tried again on retryable failures. `sha256`: the body's SHA-256 (hex), when
   * the caller hashed it already: it becomes the signed payload hash (the SDK would hash the body
   * again), and the store still checks the body against it (a mismatch fails the part).
   */
  async uploadPart(n: number, body: Buffer, sha256?: string): Promise<CompletedPart> {
    const { bucket, key, partParams, signal } = this.target;
    const res = await withRetries(
      () => {
        const command = new UploadPartCommand({
          Bucket: bucket,
          Key: key,
          UploadId: this.uploadId,
          PartNumber: n,
          Body: body,
          ContentLength: body.length,
          ...partParams,
        });
        if (sha256 !== undefined) withPayloadSha256(command, sha256);
        return this.client.send(command, this.opts);
      },
      { attempts: this.target.partAttempts ?? 3, signal },
    );
    return { PartNumber: n, ETag: res.ETag };
  }

  /** Copy a byte range of an existing object into part `n`, server-side. */
  async copyPart(n: number, source: CopyPartSource): Promise<CompletedPart> {
    const { bucket, key, partParams, signal } = this.target;
    const res = await withRetries(
      () =>
        this.client.send(
          new UploadPartCopyCommand({
            Bucket: bucket,
            Key: key,
            UploadId: this.uploadId,
            PartNumber: n,
            CopySource: copySourceOf(source.bucket, source.key),
            CopySourceRange: `bytes=${source.from}-${source.to}`,
            CopySourceIfMatch: source.ifMatch,
            ...source.copySourceParams,
            ...partParams,
          }),
          this.opts,
        ),
      { attempts: this.target.partAttempts ?? 3, signal },
    );
    return { PartNumber: n, ETag: res.CopyPartResult?.ETag };
  }

  /**
   * Complete with `parts` (any order; sorted here). `ifNoneMatch: '*'` makes the completion
   * conditional on no object existing (stores that honour it: AWS; RGW 16 ignores it).
   */
  async complete(parts: CompletedPart[], cond: { ifNoneMatch?: string } = {}): Promise<{ etag?: string }> {
    const { bucket, key, partParams } = this.target;
    return completeUpload(this.client, {
      bucket,
      key,
      uploadId: this.uploadId!,
      parts,
      ifNoneMatch: cond.ifNoneMatch,
      payer: this.payer,
      sseCustomer: partParams,
      signal: this.target.signal,
    });
  }

  /**
   * Abort the upload (nothing happens when it was never created). Resolves true when it is gone,
   * false when the abort failed (the upload is then still in the bucket: `ferry uploads` lists
   * it, and a lifecycle rule removes it). Never throws: callers abort while handling an error.
   */
  async abort(): Promise<boolean> {
    if (this.uploadId === undefined) return true;
    return abortUpload(this.client, this.target.bucket, this.target.key, this.uploadId, this.payer);
  }
}

/**
 * Sign `command` with `sha256` as its payload hash (`x-amz-content-sha256`, which SigV4 takes as
 * given instead of hashing the body: @smithy/signature-v4 `getPayloadHash`); the store then
 * refuses a body that is not those bytes (XAmzContentSHA256Mismatch). SigV2 drops the header.
 */
export function withPayloadSha256(command: UploadPartCommand | PutObjectCommand, sha256: string): void {
  // Only the request's headers are touched: any command's stack takes this middleware.
  (command as UploadPartCommand).middlewareStack.add(
    (next) => (args) => {
      (args.request as { headers: Record<string, string> }).headers['x-amz-content-sha256'] = sha256;
      return next(args);
    },
    { step: 'build', name: 'ferryPayloadSha256' },
  );
}

/**
 * Abort a multipart upload; true when it is gone (aborted now, or already gone), false when the
 * abort failed. Not signalled: an abort must still go out when the caller's signal has fired.
 */
export async function abortUpload(
  client: S3Client,
  bucket: string,
  key: string,
  uploadId: string,
  payer: { RequestPayer?: 'requester' } = {},
): Promise<boolean> {
  try {
    await client.send(
      new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId, ...payer }),
    );
    return true;
  } catch (err) {
    return isNotFound(err);
  }
}
