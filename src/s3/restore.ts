import { RestoreObjectCommand, type S3Client, type Tier } from '@aws-sdk/client-s3';
import { StorageError } from '../storage/errors.js';
import { withS3Errors } from './errors.js';

export { restoreTimes } from './errors.js';

/** Storage classes whose objects must be restored before they can be read. */
export const archiveClasses = new Set(['GLACIER', 'DEEP_ARCHIVE']);

export const restoreTiers = ['Standard', 'Bulk', 'Expedited'] as const;

/**
 * Ask S3 to restore an archived object for `days` days (a temporary copy readable beside the
 * archived one). Resolves `started`, or `already` when a restore is under way (S3's
 * RestoreAlreadyInProgress) — asking again is not an error.
 */
export async function restoreObject(
  client: S3Client,
  bucket: string,
  key: string,
  options: { days: number; tier: (typeof restoreTiers)[number]; requestPayer?: 'requester' },
): Promise<'started' | 'already'> {
  if (!Number.isInteger(options.days) || options.days < 1)
    throw new StorageError('InvalidArgument', `--days must be a whole number ≥ 1, got ${options.days}`);
  try {
    await withS3Errors({ operation: 'RestoreObject', bucket, key }, () =>
      client.send(
        new RestoreObjectCommand({
          Bucket: bucket,
          Key: key,
          RequestPayer: options.requestPayer,
          RestoreRequest: { Days: options.days, GlacierJobParameters: { Tier: options.tier as Tier } },
        }),
      ),
    );
    return 'started';
  } catch (err) {
    const cause = (err as { cause?: { name?: string } }).cause;
    if (cause?.name === 'RestoreAlreadyInProgress') return 'already';
    if (cause?.name === 'InvalidObjectState')
      throw new StorageError(
        'InvalidArgument',
        `s3://${bucket}/${key} is not archived: there is nothing to restore`,
        {
          cause: err,
        },
      );
    throw err;
  }
}
