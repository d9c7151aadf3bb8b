import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetBucketLocationCommand,
  GetBucketVersioningCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { iamActionFor } from './errors.js';
import type { ObjectParams } from './object-params.js';

/** Outcome of one probed S3 call. */
export interface Check {
  /** What was tried, in words (`list`, `write test object`, …). */
  name: string;
  /** The S3 API operation. */
  operation: string;
  /** ok · denied (AccessDenied: an IAM action is missing) · unsupported (the store lacks it) ·
   * failed (anything else) · skipped (an earlier step made it impossible). */
  status: 'ok' | 'denied' | 'unsupported' | 'failed' | 'skipped';
  /** IAM action the call needs. */
  action: string;
  detail?: string;
}

/** Raw facts seen on responses: the server's clock and what it said about the bucket's region. */
export interface Seen {
  serverDate?: Date;
  bucketRegion?: string;
  server?: string;
  contentType?: string;
}

/** Record the Date / x-amz-bucket-region / Server headers of every response (also of errors). */
export function watchResponses(client: S3Client, seen: Seen): void {
  client.middlewareStack.add(
    (next) => async (args) => {
      const record = (headers: Record<string, string> | undefined) => {
        if (!headers) return;
        const h = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
        if (h.date) seen.serverDate = new Date(h.date);
        if (h['x-amz-bucket-region']) seen.bucketRegion = h['x-amz-bucket-region'];
        if (h.server) seen.server = h.server;
        if (h['content-type']) seen.contentType = h['content-type'];
      };
      try {
        const out = await next(args);
        record((out.response as { headers?: Record<string, string> }).headers);
        return out;
      } catch (err) {
        record((err as { $response?: { headers?: Record<string, string> } }).$response?.headers);
        throw err;
      }
    },
    { step: 'deserialize', name: 'ferryDoctorWatch', priority: 'low' },
  );
}

export type ErrorKind = 'denied' | 'unsupported' | 'failed';

/** What an SDK error means for doctor: a missing permission, a missing feature, or a failure. */
export function classify(err: unknown): { kind: ErrorKind; detail: string; name: string; status?: number } {
  const e = err as {
    name?: string;
    Code?: string;
    message?: string;
    code?: string;
    $metadata?: { httpStatusCode?: number };
  };
  const status = e.$metadata?.httpStatusCode;
  // HEAD answers have no body, so the SDK cannot name the error: say what the status means.
  const raw = e.name ?? e.Code ?? 'Error';
  const name =
    /^Unknown(Error)?$/.test(raw) && status === 403
      ? 'Forbidden'
      : /^Unknown(Error)?$/.test(raw) && status === 404
        ? 'NotFound'
        : raw;
  const detail = `${name}${status ? ` (HTTP ${status})` : ''}${e.message && e.message !== name && e.message !== 'UnknownError' ? `: ${e.message.slice(0, 160)}` : ''}`;
  if (/^(AccessDenied|AllAccessDisabled|Forbidden)$/.test(name) || status === 403)
    return { kind: 'denied', detail, name, status };
  if (/NotImplemented|MethodNotAllowed|UnsupportedOperation/.test(name) || status === 501 || status === 405) {
    return { kind: 'unsupported', detail, name, status };
  }
  return { kind: 'failed', detail, name, status };
}

/** Run one call and turn its outcome into a Check; `value` gets the call's result when it worked. */
export async function probe<T>(
  name: string,
  operation: string,
  fn: () => Promise<T>,
  action = iamActionFor[operation] ?? `s3:${operation}`,
): Promise<{ check: Check; value?: T; error?: unknown }> {
  try {
    const value = await fn();
    return { check: { name, operation, status: 'ok', action }, value };
  } catch (err) {
    const c = classify(err);
    return { check: { name, operation, status: c.kind, action, detail: c.detail }, error: err };
  }
}

export function skipped(name: string, operation: string, why: string): Check {
  return {
    name,
    operation,
    status: 'skipped',
    action: iamActionFor[operation] ?? `s3:${operation}`,
    detail: why,
  };
}

/** The probes doctor runs against one bucket and prefix, with the connection's object settings. */
export class BucketProbes {
  constructor(
    readonly client: S3Client,
    readonly bucket: string,
    readonly params: ObjectParams,
  ) {}

  headBucket() {
    return probe('bucket exists', 'HeadBucket', () =>
      this.client.send(new HeadBucketCommand({ Bucket: this.bucket })),
    );
  }

  location() {
    return probe('bucket region', 'GetBucketLocation', async () => {
      const res = await this.client.send(new GetBucketLocationCommand({ Bucket: this.bucket }));
      return res.LocationConstraint || 'us-east-1';
    });
  }

  listV2(prefix: string) {
    return probe('list (ListObjectsV2)', 'ListObjectsV2', () =>
      this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, MaxKeys: 1, ...this.params.payer }),
      ),
    );
  }

  listV1(prefix: string) {
    return probe('list (ListObjects v1)', 'ListObjects', () =>
      this.client.send(
        new ListObjectsCommand({ Bucket: this.bucket, Prefix: prefix, MaxKeys: 1, ...this.params.payer }),
      ),
    );
  }

  put(key: string, body: Buffer, client = this.client, name = 'write test object', stream = false) {
    return probe(name, 'PutObject', () =>
      client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Body: stream ? Readable.from([body]) : body,
          ContentLength: body.length,
          ContentType: 'text/plain',
          ...this.params.create,
          Metadata: this.params.metadata,
        }),
      ),
    );
  }

  read(key: string, name = 'read it back') {
    return probe(name, 'GetObject', async () => {
      const res = await this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: key, ...this.params.read }),
      );
      return Buffer.from(await res.Body!.transformToByteArray());
    });
  }

  /**
   * Whether GetObject is allowed when there is nothing to read: GET a key that does not exist.
   * `404 NoSuchKey` means the store looked for the object: AWS authorises GetObject before it
   * looks, so there the read is allowed. Ceph RGW looks first and answers 404 to anyone who may
   * list the bucket, GetObject granted or not (measured on RGW 16), so on other stores a 404 is
   * a strong hint, not proof: `proven` says which. `403` means refused — unless s3:ListBucket is
   * missing too, when AWS and RGW answer 403 for any missing key.
   */
  async readMissing(key: string, aws: boolean): Promise<{ check: Check; proven: boolean }> {
    const r = await probe('read allowed? (GET of a missing key)', 'GetObject', () =>
      this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key, ...this.params.read })),
    );
    if (r.check.status === 'ok') {
      r.check.status = 'failed';
      r.check.detail = `an object exists at the random key ${key}`;
      return { check: r.check, proven: false };
    }
    const c = classify(r.error);
    if (c.name === 'NoSuchKey') {
      r.check.status = 'ok';
      r.check.detail = aws
        ? `nothing to read: a GET of a missing key answered ${c.detail}, so reads are allowed`
        : `nothing to read: a GET of a missing key answered ${c.detail}; reads look allowed, but some stores (Ceph RGW) answer 404 to anyone who may list — put an object in the bucket and run doctor again to be sure`;
      return { check: r.check, proven: aws };
    }
    if (c.kind === 'denied') {
      r.check.detail = `a GET of a missing key was refused: ${c.detail} (without s3:ListBucket a missing key answers 403 even when reads are allowed)`;
    }
    return { check: r.check, proven: false };
  }

  remove(key: string, name = 'delete it') {
    return probe(name, 'DeleteObject', () =>
      this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key, ...this.params.payer })),
    );
  }

  createMultipart(key: string) {
    return probe('start multipart upload', 'CreateMultipartUpload', async () => {
      const res = await this.client.send(
        new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: key, ...this.params.create }),
      );
      return res.UploadId!;
    });
  }

  partCopy(key: string, uploadId: string, sourceKey: string) {
    return probe('multipart copy (UploadPartCopy)', 'UploadPartCopy', () =>
      this.client.send(
        new UploadPartCopyCommand({
          Bucket: this.bucket,
          Key: key,
          UploadId: uploadId,
          PartNumber: 1,
          CopySource: `${this.bucket}/${encodeURIComponent(sourceKey).replace(/%2F/g, '/')}`,
          ...this.params.part,
          ...this.params.copySource,
        }),
      ),
    );
  }

  listUploads(prefix: string) {
    return probe('list incomplete uploads', 'ListMultipartUploads', () =>
      this.client.send(
        new ListMultipartUploadsCommand({
          Bucket: this.bucket,
          Prefix: prefix,
          MaxUploads: 10,
          ...this.params.payer,
        }),
      ),
    );
  }

  abort(key: string, uploadId: string) {
    return probe('abort multipart upload', 'AbortMultipartUpload', () =>
      this.client.send(
        new AbortMultipartUploadCommand({
          Bucket: this.bucket,
          Key: key,
          UploadId: uploadId,
          ...this.params.payer,
        }),
      ),
    );
  }

  headObject(key: string) {
    return probe('check encryption of the test object', 'HeadObject', () =>
      this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key, ...this.params.read })),
    );
  }

  versioning() {
    return probe('versioning status', 'GetBucketVersioning', async () => {
      const res = await this.client.send(new GetBucketVersioningCommand({ Bucket: this.bucket }));
      return res.Status ?? 'Off';
    });
  }
}
