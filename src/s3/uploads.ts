import {
  AbortMultipartUploadCommand,
  ListMultipartUploadsCommand,
  ListPartsCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { forEachConcurrent } from '../util/concurrency.js';

/** One unfinished multipart upload: its parts are stored (and billed) but form no object yet. */
export interface IncompleteUpload {
  key: string;
  uploadId: string;
  initiated: Date;
  storageClass?: string;
  /** Parts and bytes stored so far (from ListParts; undefined when not asked for). */
  parts?: number;
  bytes?: number;
}

/** S3 Standard's list price in us-east-1, USD per GiB-month: the default for cost estimates. */
export const DEFAULT_PRICE_PER_GIB_MONTH = 0.023;

/** Estimated monthly storage cost (USD) of `bytes` at `pricePerGiBMonth`. */
export function monthlyCost(bytes: number, pricePerGiBMonth = DEFAULT_PRICE_PER_GIB_MONTH): number {
  return (bytes / 1024 ** 3) * pricePerGiBMonth;
}

/**
 * Every unfinished multipart upload under `prefix`, page by page (ListMultipartUploads), oldest
 * first within a key as S3 returns them. With `withParts`, each is completed with its part count
 * and stored bytes (one ListParts per upload, paged).
 */
export async function* listIncompleteUploads(
  client: S3Client,
  bucket: string,
  prefix = '',
  options: { withParts?: boolean } = {},
): AsyncGenerator<IncompleteUpload> {
  let keyMarker: string | undefined;
  let uploadIdMarker: string | undefined;
  do {
    const page = await client.send(
      new ListMultipartUploadsCommand({
        Bucket: bucket,
        Prefix: prefix || undefined,
        KeyMarker: keyMarker,
        UploadIdMarker: uploadIdMarker,
      }),
    );
    for (const u of page.Uploads ?? []) {
      if (!u.Key || !u.UploadId) continue;
      const upload: IncompleteUpload = {
        key: u.Key,
        uploadId: u.UploadId,
        initiated: u.Initiated ?? new Date(0),
        storageClass: u.StorageClass,
      };
      if (options.withParts) Object.assign(upload, await partsOf(client, bucket, u.Key, u.UploadId));
      yield upload;
    }
    keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
    uploadIdMarker = page.IsTruncated ? page.NextUploadIdMarker : undefined;
  } while (keyMarker);
}

async function partsOf(client: S3Client, bucket: string, key: string, uploadId: string) {
  let parts = 0;
  let bytes = 0;
  let marker: string | undefined;
  do {
    const page = await client.send(
      new ListPartsCommand({ Bucket: bucket, Key: key, UploadId: uploadId, PartNumberMarker: marker }),
    );
    for (const p of page.Parts ?? []) {
      parts++;
      bytes += p.Size ?? 0;
    }
    marker = page.IsTruncated ? page.NextPartNumberMarker : undefined;
  } while (marker);
  return { parts, bytes };
}

export interface AbortFilter {
  /** Only uploads started before this time. */
  startedBefore?: Date;
  /** Only uploads of exactly this key (otherwise every key under the prefix). */
  key?: string;
  /** Only this upload. */
  uploadId?: string;
}

/**
 * Abort the unfinished uploads under `prefix` that match `filter`, `concurrency` at a time.
 * Returns the aborted uploads. An upload that vanished meanwhile (completed or aborted by someone
 * else: NoSuchUpload) is skipped, not an error.
 */
export async function abortIncompleteUploads(
  client: S3Client,
  bucket: string,
  prefix: string,
  filter: AbortFilter,
  concurrency = 8,
): Promise<IncompleteUpload[]> {
  const aborted: IncompleteUpload[] = [];
  async function* matching() {
    for await (const u of listIncompleteUploads(client, bucket, filter.key ?? prefix)) {
      if (filter.key !== undefined && u.key !== filter.key) continue;
      if (filter.uploadId !== undefined && u.uploadId !== filter.uploadId) continue;
      if (filter.startedBefore && u.initiated >= filter.startedBefore) continue;
      yield u;
    }
  }
  await forEachConcurrent(matching(), concurrency, async (u) => {
    try {
      await client.send(
        new AbortMultipartUploadCommand({ Bucket: bucket, Key: u.key, UploadId: u.uploadId }),
      );
      aborted.push(u);
    } catch (err) {
      const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
      if (e.name !== 'NoSuchUpload' && e.$metadata?.httpStatusCode !== 404) throw err;
    }
  });
  return aborted;
}
