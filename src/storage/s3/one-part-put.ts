import { SHA256_META } from '../../s3/checksum.js';
import { putObject } from '../../s3/exclusive-put.js';
import type { StoragePath } from '../types.js';
import { exclusiveLost } from './exclusive-claim.js';
import type { S3Storage } from './s3-storage.js';

/**
 * One PutObject for a file that never filled a part (write-handle.ts `putWhole`): `body` with its
 * SHA-256 (`sha256`, hex) signed and kept as `ferry-sha256`; the object's ETag.
 */
export async function putOnePart(
  s3: S3Storage,
  path: StoragePath,
  key: string,
  body: Buffer,
  sha256: string,
  attrs: { contentType: string; metadata: Record<string, string> },
  exclusive: boolean,
  signal: AbortSignal,
): Promise<string | undefined> {
  try {
    // An exclusive create whose answer was lost is told from another writer's (exclusive-put.ts).
    const res = await s3.send('PutObject', key, () =>
      putObject(
        s3.client,
        {
          Bucket: s3.bucket,
          Key: key,
          ...s3.params.create,
          ContentType: attrs.contentType,
          Metadata: { ...attrs.metadata, [SHA256_META]: sha256 },
          Body: body,
          ContentLength: body.length,
          IfNoneMatch: exclusive ? '*' : undefined,
        },
        // With its SHA-256 given, the lean path sends it (no SDK, no second hash) where it applies.
        { sha256, signal },
      ),
    );
    return res.ETag;
  } catch (err) {
    throw exclusive ? exclusiveLost(err, path) : err;
  }
}
