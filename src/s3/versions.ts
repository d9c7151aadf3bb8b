import type { Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  GetBucketVersioningCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectVersionsCommand,
  PutBucketVersioningCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { StorageError } from '../storage/errors.js';
import { copyObject } from './copy.js';
import { withS3Errors } from './errors.js';
import type { ObjectParams } from './object-params.js';

/** One version of a key, or a delete marker, as ListObjectVersions reports it. */
export interface ObjectVersion {
  key: string;
  versionId: string;
  isLatest: boolean;
  deleteMarker: boolean;
  lastModified: Date;
  /** Bytes (0 for a delete marker). */
  size: number;
  etag?: string;
  storageClass?: string;
}

/** What a versions call needs: the client, the bucket, the connection's object settings. */
export interface VersionTarget {
  client: S3Client;
  bucket: string;
  params: ObjectParams;
}

/**
 * The versions of one file, newest first, delete markers included. Costs what the key alone
 * costs, not a walk of the bucket: ListObjectVersions with the key as prefix lists its versions
 * first (keys sort), so the walk stops at the first entry of another key — one request for a file
 * with fewer than 1,000 versions, whatever the folder holds.
 */
export async function fileVersions(t: VersionTarget, key: string): Promise<ObjectVersion[]> {
  const out: ObjectVersion[] = [];
  for await (const page of versionPages(t, key, undefined)) {
    const mine = page.filter((v) => v.key === key);
    out.push(...mine);
    if (mine.length < page.length) break; // past the key: later keys only share its prefix
  }
  return out;
}

/**
 * The versions of the files directly in the folder `prefix` (ending in `/`, or '' for the bucket
 * root), per key, each newest first. One request per 1,000 versions.
 */
export async function folderVersions(
  t: VersionTarget,
  prefix: string,
): Promise<Map<string, ObjectVersion[]>> {
  const byKey = new Map<string, ObjectVersion[]>();
  for await (const page of versionPages(t, prefix, '/')) {
    for (const v of page) {
      if (v.key === prefix) continue; // the folder's own marker
      const list = byKey.get(v.key) ?? [];
      if (!list.length) byKey.set(v.key, list);
      list.push(v);
    }
  }
  return byKey;
}

async function* versionPages(t: VersionTarget, prefix: string, delimiter: string | undefined) {
  let keyMarker: string | undefined;
  let versionMarker: string | undefined;
  do {
    const page = await withS3Errors({ operation: 'ListObjectVersions', bucket: t.bucket, key: prefix }, () =>
      t.client.send(
        new ListObjectVersionsCommand({
          Bucket: t.bucket,
          Prefix: prefix || undefined,
          Delimiter: delimiter,
          KeyMarker: keyMarker,
          VersionIdMarker: versionMarker,
          ...t.params.payer,
        }),
      ),
    );
    const versions: ObjectVersion[] = [
      ...(page.Versions ?? []).map((v) => ({
        key: v.Key ?? '',
        versionId: v.VersionId ?? 'null',
        isLatest: Boolean(v.IsLatest),
        deleteMarker: false,
        lastModified: v.LastModified ?? new Date(0),
        size: v.Size ?? 0,
        etag: v.ETag,
        storageClass: v.StorageClass,
      })),
      ...(page.DeleteMarkers ?? []).map((d) => ({
        key: d.Key ?? '',
        versionId: d.VersionId ?? 'null',
        isLatest: Boolean(d.IsLatest),
        deleteMarker: true,
        lastModified: d.LastModified ?? new Date(0),
        size: 0,
      })),
    ];
    // S3 gives versions and markers in two lists: merge them back into key order, newest first.
    versions.sort((a, b) =>
      a.key === b.key ? b.lastModified.getTime() - a.lastModified.getTime() : a.key < b.key ? -1 : 1,
    );
    yield versions;
    keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
    versionMarker = page.IsTruncated ? page.NextVersionIdMarker : undefined;
  } while (keyMarker);
}

/** A version's bytes (GetObject with VersionId); NotFound naming the version when it is gone. */
export async function readVersion(t: VersionTarget, key: string, versionId: string): Promise<Readable> {
  const res = await withS3Errors({ operation: 'GetObject', bucket: t.bucket, key }, () =>
    t.client.send(
      new GetObjectCommand({ Bucket: t.bucket, Key: key, VersionId: versionId, ...t.params.read }),
    ),
  );
  return res.Body as Readable;
}

/**
 * Make `versionId` the current version again: an exact server-side copy of it onto the key
 * (headers, metadata, class and encryption of that version), which becomes the newest version.
 * Older versions stay. A delete marker can't be copied: remove it instead (`removeVersion`).
 */
export async function revertToVersion(
  t: VersionTarget,
  key: string,
  versionId: string,
  copy: { multipartThreshold: number; partSize: number; concurrency: number },
): Promise<string | undefined> {
  const head = await withS3Errors({ operation: 'HeadObject', bucket: t.bucket, key }, () =>
    t.client.send(
      new HeadObjectCommand({ Bucket: t.bucket, Key: key, VersionId: versionId, ...t.params.read }),
    ),
  ).catch((err: unknown) => {
    if (StorageError.is(err, 'NotFound', 'InvalidArgument', 'NotSupported'))
      throw new StorageError(
        'NotFound',
        `no version ${versionId} of s3://${t.bucket}/${key} to revert to (a delete marker is removed with \`versions rm\`, not reverted to)`,
        { cause: err },
      );
    throw err;
  });
  await withS3Errors({ operation: 'CopyObject', bucket: t.bucket, key }, () =>
    copyObject(
      t.client,
      { bucket: t.bucket, key, versionId, size: head.ContentLength ?? 0, head },
      { bucket: t.bucket, key },
      { ...copy, exact: true, objectParams: t.params },
    ),
  );
  const now = await t.client.send(new HeadObjectCommand({ Bucket: t.bucket, Key: key, ...t.params.read }));
  return now.VersionId;
}

/**
 * Delete one version for good (or a delete marker: the version before it becomes current again,
 * which undeletes the file). Refused by the store when MFA delete is on.
 */
export async function removeVersion(t: VersionTarget, key: string, versionId: string): Promise<void> {
  await withS3Errors({ operation: 'DeleteObject', bucket: t.bucket, key }, () =>
    t.client.send(
      new DeleteObjectCommand({ Bucket: t.bucket, Key: key, VersionId: versionId, ...t.params.payer }),
    ),
  );
}

export interface VersioningState {
  status: 'Enabled' | 'Suspended' | 'Never enabled';
  mfaDelete?: string;
}

export async function getVersioning(client: S3Client, bucket: string): Promise<VersioningState> {
  const v = await withS3Errors({ operation: 'GetBucketVersioning', bucket }, () =>
    client.send(new GetBucketVersioningCommand({ Bucket: bucket })),
  );
  return { status: v.Status ?? 'Never enabled', mfaDelete: v.MFADelete };
}

/** Versioning on (Enabled) or off (Suspended: existing versions stay, new writes replace `null`). */
export async function setVersioning(client: S3Client, bucket: string, on: boolean): Promise<void> {
  await withS3Errors({ operation: 'PutBucketVersioning', bucket }, () =>
    client.send(
      new PutBucketVersioningCommand({
        Bucket: bucket,
        VersioningConfiguration: { Status: on ? 'Enabled' : 'Suspended' },
      }),
    ),
  );
}
