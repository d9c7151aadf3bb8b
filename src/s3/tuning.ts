import { isAwsEndpoint, type S3Connection } from './connection.js';
import type { DownloadTuning } from './download.js';
import type { UploadTuning } from './upload.js';

/**
 * The transfer engine's tuning, kept apart from upload.ts and download.ts (which load the AWS
 * SDK) so that a storage can be made — and list — without loading them.
 */

const MiB = 1024 * 1024;

/**
 * Upload defaults measured on Ceph RGW here (bench/transfer.sh): 16 MiB × 6 kept the link busy;
 * smaller parts cost more request overhead, more parts in flight only cost memory.
 */
export const defaultUploadTuning: UploadTuning = {
  threshold: 16 * MiB,
  partSize: 16 * MiB,
  concurrency: 6,
  partAttempts: 3,
};

/** Download defaults measured on Ceph RGW here (bench/transfer.sh). */
export const defaultDownloadTuning: DownloadTuning = {
  partSize: 16 * MiB,
  concurrency: 6,
  partAttempts: 3,
};

/** Upload and download tuning from a connection's settings. */
export function transferTuningFor(conn: S3Connection): { upload: UploadTuning; download: DownloadTuning } {
  return {
    upload: {
      ...defaultUploadTuning,
      threshold: conn.multipartThreshold ?? defaultUploadTuning.threshold,
      partSize: conn.partSize ?? defaultUploadTuning.partSize,
      concurrency: conn.partConcurrency ?? defaultUploadTuning.concurrency,
    },
    download: {
      ...defaultDownloadTuning,
      partSize: conn.partSize ?? defaultDownloadTuning.partSize,
      concurrency: conn.partConcurrency ?? defaultDownloadTuning.concurrency,
      closeFirstConnection:
        conn.freshConnectionGets ??
        (conn.endpoint?.startsWith('http:') === true && !isAwsEndpoint(conn.endpoint)),
    },
  };
}
