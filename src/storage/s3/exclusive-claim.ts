import { randomBytes } from 'node:crypto';
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { isAwsEndpoint } from '../../s3/connection.js';
import { putObject } from '../../s3/exclusive-put.js';
import { StorageError } from '../errors.js';
import type { StoragePath } from '../types.js';
import type { S3Storage } from './s3-storage.js';

/** Metadata naming the handle that claimed a name for an exclusive multipart write. */
const CLAIM_META = 'ferry-claim';

/**
 * Stores whose CompleteMultipartUpload honours If-None-Match (AWS S3 since 2024). RGW 16 ignores
 * it (checked: it overwrote), so elsewhere an exclusive multipart write first claims the name
 * with a conditional zero-byte PutObject, which the completed object then replaces.
 */
export function hasConditionalComplete(s3: S3Storage): boolean {
  return s3.conn.endpoint === undefined || isAwsEndpoint(s3.conn.endpoint);
}

/**
 * A 412 on a conditional create means someone else created the file: AlreadyExists. A store
 * that does not implement conditional PUTs (Swift's s3api: 501) cannot create exclusively at all:
 * NotSupported, saying so, rather than a create that could silently replace a racing one.
 */
export function exclusiveLost(err: unknown, path: StoragePath): unknown {
  if (StorageError.is(err, 'Conflict')) {
    return new StorageError('AlreadyExists', `already exists: /${path}`, { path, cause: err });
  }
  if (StorageError.is(err, 'NotSupported')) {
    return new StorageError(
      'NotSupported',
      `exclusive create of /${path} needs conditional writes (If-None-Match), which this S3 store does not implement`,
      { path, cause: err },
    );
  }
  return err;
}

/**
 * Claim `path` with a conditional zero-byte object (AlreadyExists when something is there);
 * resolves to the claim's id. The claim is visible as an empty file until replaced or dropped.
 * The PUT is not signalled: a signal firing while it is on the wire would lose the answer of a
 * claim S3 may have made, and the caller would not know to drop it. Once it is made, the signal
 * drops it.
 */
export async function claimName(s3: S3Storage, path: StoragePath, signal: AbortSignal): Promise<string> {
  signal.throwIfAborted();
  const claim = randomBytes(8).toString('hex');
  const key = s3.keys.file(path);
  try {
    // A claim whose answer was lost is told from another writer's by its id (exclusive-put.ts).
    await s3.send('PutObject', key, () =>
      putObject(s3.client, {
        Bucket: s3.bucket,
        Key: key,
        ...s3.params.create,
        Metadata: { [CLAIM_META]: claim },
        Body: Buffer.alloc(0),
        ContentLength: 0,
        IfNoneMatch: '*',
      }),
    );
  } catch (err) {
    throw exclusiveLost(err, path);
  }
  if (signal.aborted) {
    await dropClaim(s3, path, claim);
    signal.throwIfAborted();
  }
  return claim;
}

/** Remove a claim, only if it is still ours (never throws). */
export async function dropClaim(s3: S3Storage, path: StoragePath, claim: string): Promise<void> {
  const head = await s3.head(path).catch(() => undefined);
  if (head?.Metadata?.[CLAIM_META] !== claim) return;
  await s3.client
    .send(new DeleteObjectCommand({ Bucket: s3.bucket, Key: s3.keys.file(path), ...s3.params.payer }))
    .catch(() => {});
}

/**
 * AlreadyExists unless the claim at `path` is still ours: a plain write that replaced it made a
 * file there, which an exclusive create must not overwrite. (A write landing between this HEAD
 * and the completion is still replaced: the store offers nothing narrower.)
 */
export async function checkClaim(s3: S3Storage, path: StoragePath, claim: string): Promise<void> {
  const head = await s3.head(path);
  if (head?.Metadata?.[CLAIM_META] !== claim) {
    throw new StorageError('AlreadyExists', `already exists: /${path} (created while this write ran)`, {
      path,
    });
  }
}
