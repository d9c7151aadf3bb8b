import { downloadToFile } from '../../s3/download-file.js';
import { StorageError } from '../errors.js';
import { resumableDownload } from '../resumable-download.js';
import type { DownloadToOptions, DownloadToResult, StoragePath } from '../types.js';
import type { S3Storage } from './s3-storage.js';

/**
 * S3Storage's `downloadTo` capability: an object to a local file, its parts fetched by ranged
 * GETs in parallel and written at their offsets (src/s3/download.ts, downloadToFile), resumable
 * after an interruption (resumable-download.ts). This backend's own client, tuning and per-call
 * params (SSE-C key, requester pays) apply to every GET, and every GET is pinned to the ETag the
 * `stat` saw (If-Match), so a file replaced meanwhile is never mixed with the old one.
 */
export async function downloadTo(
  s3: S3Storage,
  path: StoragePath,
  localFile: string,
  options: DownloadToOptions = {},
): Promise<DownloadToResult> {
  const entry = options.known ?? (await s3.stat(path));
  if (entry.type === 'dir') throw new StorageError('IsADirectory', `is a folder: /${path}`, { path });
  const key = s3.keys.file(path);
  return resumableDownload(
    entry,
    localFile,
    s3.download.partSize,
    (file, skip, onPart) =>
      s3.send('GetObject', key, () =>
        downloadToFile(
          s3.client,
          {
            bucket: s3.bucket,
            key,
            size: entry.size,
            etag: entry.etag,
            skip,
            onPart,
            partParams: s3.params.read,
            signal: options.signal,
            budget: s3.budget,
          },
          file,
          s3.download,
        ),
      ),
    options.onBytes,
    options.hashAll,
  );
}
