import { listIncompleteUploads } from '../s3/uploads.js';
import type { S3Storage } from '../storage/s3/s3-storage.js';
import type { Entry } from '../storage/types.js';

/** Suffix of the listing entries that stand for unfinished multipart uploads. */
export const PARTIAL_UPLOAD_SUFFIX = '.partial-upload';

/**
 * The unfinished multipart uploads directly in the folder `path` of an S3 storage, as entries
 * `name.partial-upload` (size 0, mtime: when the upload began). They are only shown: there is
 * no object behind them to read, and the multipart uploads are left alone.
 */
export async function partialUploads(raw: S3Storage, path: string): Promise<Entry[]> {
  const prefix = raw.keys.dir(path);
  const out: Entry[] = [];
  for await (const u of listIncompleteUploads(raw.client, raw.bucket, prefix)) {
    const rest = u.key.slice(prefix.length);
    if (rest === '' || rest.includes('/')) continue;
    const name = `${raw.keys.path(u.key).split('/').pop()}${PARTIAL_UPLOAD_SUFFIX}`;
    out.push({
      path: path === '' ? name : `${path}/${name}`,
      name,
      type: 'file',
      size: 0,
      mtime: u.initiated,
    });
  }
  return out;
}
