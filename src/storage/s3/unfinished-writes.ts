import { AbortMultipartUploadCommand } from '@aws-sdk/client-s3';
import { translateS3Error } from '../../s3/errors.js';
import { listIncompleteUploads } from '../../s3/uploads.js';
import { StorageError } from '../errors.js';
import type { AbortUnfinishedOptions, StoragePath } from '../types.js';
import type { S3Storage } from './s3-storage.js';

/**
 * S3Storage's `abortUnfinishedWrites`: abort the multipart uploads below the folder `path` begun
 * at or after `since` whose file `only` accepts. After a killed tree copy is finished by a later
 * run, these are the uploads the killed run had begun and the later run did not resume (begun
 * just before the kill, before their journal entry was written; or of a file it then found
 * complete): nobody can complete them, and S3 would keep (and bill) their parts for ever.
 * An upload that vanished meanwhile (NoSuchUpload) is not an error.
 */
export async function abortUnfinishedWrites(
  s3: S3Storage,
  path: StoragePath,
  options: AbortUnfinishedOptions,
): Promise<number> {
  const prefix = s3.keys.dir(path);
  let aborted = 0;
  try {
    for await (const u of listIncompleteUploads(s3.client, s3.bucket, prefix)) {
      if (u.initiated < options.since) continue;
      if (options.only && !options.only(s3.keys.path(u.key))) continue;
      try {
        await s3.send('AbortMultipartUpload', u.key, () =>
          s3.client.send(
            new AbortMultipartUploadCommand({
              Bucket: s3.bucket,
              Key: u.key,
              UploadId: u.uploadId,
              ...s3.params.payer,
            }),
          ),
        );
        aborted++;
      } catch (err) {
        if (!StorageError.is(err, 'NotFound')) throw err; // NoSuchUpload: gone meanwhile
      }
    }
  } catch (err) {
    throw translateS3Error(err, { operation: 'ListMultipartUploads', bucket: s3.bucket, key: prefix, path });
  }
  return aborted;
}
