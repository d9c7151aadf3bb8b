import {
  AbortMultipartUploadCommand,
  type BucketLocationConstraint,
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  GetBucketAccelerateConfigurationCommand,
  GetBucketEncryptionCommand,
  GetBucketLifecycleConfigurationCommand,
  GetBucketLocationCommand,
  GetBucketLoggingCommand,
  GetBucketVersioningCommand,
  GetBucketWebsiteCommand,
  GetPublicAccessBlockCommand,
  HeadBucketCommand,
  ListBucketsCommand,
  ListObjectVersionsCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { StorageError } from '../storage/errors.js';
import { forEachConcurrent } from '../util/concurrency.js';
import { discoverBucketRegion } from './bucket-check.js';
import { translateS3Error, withS3Errors } from './errors.js';
import { listIncompleteUploads } from './uploads.js';

/**
 * Why `name` is not a bucket name S3 accepts everywhere (AWS's naming rules: DNS-compatible, so
 * it works in virtual-host URLs), or [] when it is. Finder's "Untitled Folder" fails here, with
 * the reasons, instead of at S3 with "not DNS compatible".
 */
export function bucketNameProblems(name: string): string[] {
  const problems: string[] = [];
  if (name.length < 3 || name.length > 63) problems.push('must be 3 to 63 characters long');
  if (/[^a-z0-9.-]/.test(name))
    problems.push('may hold only lower-case letters, digits, dots and hyphens (no spaces, capitals or _)');
  if (!/^[a-z0-9]/.test(name) || !/[a-z0-9]$/.test(name))
    problems.push('must begin and end with a letter or digit');
  if (name.includes('..')) problems.push('may not have two dots in a row');
  if (/^\d+\.\d+\.\d+\.\d+$/.test(name)) problems.push('may not look like an IP address');
  for (const p of ['xn--', 'sthree-', 'amzn-s3-demo-'])
    if (name.startsWith(p)) problems.push(`may not begin with "${p}" (reserved)`);
  for (const s of ['-s3alias', '--ol-s3', '.mrap', '--x-s3', '--table-s3'])
    if (name.endsWith(s)) problems.push(`may not end with "${s}" (reserved)`);
  return problems;
}

export interface BucketSummary {
  name: string;
  created?: Date;
  /** Where the store says the bucket is (undefined when it won't say). */
  region?: string;
}

/** Every bucket of the account (ListBuckets, paged where the store pages), with regions. */
export async function listBuckets(
  client: S3Client,
  options: { regions?: boolean } = {},
): Promise<BucketSummary[]> {
  const out: BucketSummary[] = [];
  let token: string | undefined;
  do {
    const page = await withS3Errors({ operation: 'ListBuckets', bucket: '' }, () =>
      client.send(new ListBucketsCommand({ ContinuationToken: token, MaxBuckets: token ? 1000 : undefined })),
    );
    for (const b of page.Buckets ?? []) {
      if (b.Name) out.push({ name: b.Name, created: b.CreationDate, region: b.BucketRegion });
    }
    token = page.ContinuationToken;
  } while (token);
  if (options.regions) {
    // Stores that don't put the region in ListBuckets (RGW, older AWS answers): ask each bucket.
    await forEachConcurrent(
      out.filter((b) => !b.region),
      8,
      async (b) => {
        b.region = await discoverBucketRegion(client, b.name);
      },
    );
  }
  return out;
}

/** Create a bucket in `region` (us-east-1 takes no location constraint). */
export async function createBucket(client: S3Client, name: string, region: string): Promise<void> {
  const problems = bucketNameProblems(name);
  if (problems.length)
    throw new StorageError(
      'InvalidArgument',
      `"${name}" is not a valid bucket name: it ${problems.join('; it ')}`,
    );
  // AWS's us-east-1 (and RGW) answer 200 to creating a bucket you already own: ask first.
  const exists = await client.send(new HeadBucketCommand({ Bucket: name })).then(
    () => true,
    () => false,
  );
  if (exists) throw new StorageError('AlreadyExists', `bucket ${name} already exists (it is yours)`);
  try {
    await client.send(
      new CreateBucketCommand({
        Bucket: name,
        CreateBucketConfiguration:
          region === 'us-east-1' ? undefined : { LocationConstraint: region as BucketLocationConstraint },
      }),
    );
  } catch (err) {
    const code = (err as { name?: string }).name;
    if (code === 'BucketAlreadyOwnedByYou')
      throw new StorageError('AlreadyExists', `bucket ${name} already exists (it is yours)`);
    if (code === 'BucketAlreadyExists')
      throw new StorageError(
        'AlreadyExists',
        `bucket name ${name} is taken by another account: bucket names are global, pick another`,
      );
    throw translateS3Error(err, { operation: 'CreateBucket', bucket: name });
  }
}

/**
 * Remove a bucket. Without `recursive` it must be empty (NotEmpty otherwise, saying so). With it,
 * every object version, delete marker and unfinished multipart upload goes first — nothing of
 * the bucket is left billed. Resolves what was removed.
 */
export async function removeBucket(
  client: S3Client,
  name: string,
  options: { recursive?: boolean; signal?: AbortSignal } = {},
): Promise<{ objects: number; uploads: number }> {
  let objects = 0;
  let uploads = 0;
  if (options.recursive) {
    for await (const u of listIncompleteUploads(client, name)) {
      options.signal?.throwIfAborted();
      await withS3Errors({ operation: 'AbortMultipartUpload', bucket: name }, () =>
        client.send(new AbortMultipartUploadCommand({ Bucket: name, Key: u.key, UploadId: u.uploadId })),
      );
      uploads++;
    }
    let keyMarker: string | undefined;
    let versionMarker: string | undefined;
    do {
      options.signal?.throwIfAborted();
      const page = await withS3Errors({ operation: 'ListObjectVersions', bucket: name }, () =>
        client.send(
          new ListObjectVersionsCommand({
            Bucket: name,
            KeyMarker: keyMarker,
            VersionIdMarker: versionMarker,
          }),
        ),
      );
      const batch = [...(page.Versions ?? []), ...(page.DeleteMarkers ?? [])]
        .filter((v) => v.Key)
        .map((v) => ({ Key: v.Key!, VersionId: v.VersionId }));
      if (batch.length) {
        const res = await withS3Errors({ operation: 'DeleteObjects', bucket: name }, () =>
          client.send(new DeleteObjectsCommand({ Bucket: name, Delete: { Objects: batch, Quiet: true } })),
        );
        const failed = res.Errors ?? [];
        if (failed.length)
          throw new StorageError(
            'PermissionDenied',
            `could not delete ${failed.length} object(s) of ${name}, e.g. ${failed[0]!.Key}: ${failed[0]!.Code} ${failed[0]!.Message ?? ''}`.trim(),
          );
        objects += batch.length;
      }
      keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
      versionMarker = page.IsTruncated ? page.NextVersionIdMarker : undefined;
    } while (keyMarker);
  }
  try {
    await client.send(new DeleteBucketCommand({ Bucket: name }));
  } catch (err) {
    if ((err as { name?: string }).name === 'BucketNotEmpty')
      throw new StorageError(
        'NotEmpty',
        `bucket ${name} is not empty (objects, old versions or unfinished uploads): remove them first, or use -r`,
      );
    throw translateS3Error(err, { operation: 'DeleteBucket', bucket: name });
  }
  return { objects, uploads };
}

/** One bucket setting as the store answered it: a value, or why it is unknown. */
export type Setting<T> = { value: T } | { unknown: string };

export interface BucketInfo {
  name: string;
  region: Setting<string>;
  versioning: Setting<{ status: 'Enabled' | 'Suspended' | 'Never enabled'; mfaDelete?: string }>;
  acceleration: Setting<string>;
  lifecycleRules: Setting<number>;
  encryption: Setting<string>;
  publicAccessBlock: Setting<Record<string, boolean>>;
  logging: Setting<string>;
  website: Setting<string>;
}

/**
 * What a bucket is set to, one call per setting, in parallel. A setting the store doesn't
 * implement, or the credentials may not read, is reported as unknown with the reason: one refused
 * call never hides the others.
 */
export async function bucketInfo(client: S3Client, name: string): Promise<BucketInfo> {
  const ask = async <T>(op: string, fn: () => Promise<T>, absent?: string[]): Promise<Setting<T>> => {
    try {
      return { value: await fn() };
    } catch (err) {
      const code = (err as { name?: string }).name ?? '';
      if (absent?.includes(code)) return { value: undefined as T };
      // RGW answers MethodNotAllowed for GetBucketWebsite unless static websites are enabled.
      if (code === 'NotImplemented' || code === 'MethodNotAllowed')
        return { unknown: `not supported by this store (${op} answered ${code})` };
      const e = translateS3Error(err, { operation: op, bucket: name });
      if (StorageError.is(e, 'NotFound') && /bucket/i.test(e.message)) throw e;
      return { unknown: e instanceof Error ? e.message : String(e) };
    }
  };
  const [region, versioning, acceleration, lifecycleRules, encryption, publicAccessBlock, logging, website] =
    await Promise.all([
      // As the store names it (RGW: its zone group); S3 answers '' for us-east-1.
      ask(
        'GetBucketLocation',
        async () =>
          (await client.send(new GetBucketLocationCommand({ Bucket: name }))).LocationConstraint ||
          'us-east-1',
      ),
      ask('GetBucketVersioning', async () => {
        const v = await client.send(new GetBucketVersioningCommand({ Bucket: name }));
        return { status: v.Status ?? ('Never enabled' as const), mfaDelete: v.MFADelete };
      }),
      ask('GetBucketAccelerateConfiguration', async () => {
        const a = await client.send(new GetBucketAccelerateConfigurationCommand({ Bucket: name }));
        return a.Status ?? 'Off';
      }),
      ask(
        'GetBucketLifecycleConfiguration',
        async () =>
          (await client.send(new GetBucketLifecycleConfigurationCommand({ Bucket: name }))).Rules?.length ??
          0,
        ['NoSuchLifecycleConfiguration'],
      ).then((s) => ('value' in s && s.value === undefined ? { value: 0 } : s)),
      ask('GetBucketEncryption', async () => {
        const e = await client.send(new GetBucketEncryptionCommand({ Bucket: name }));
        const rule = e.ServerSideEncryptionConfiguration?.Rules?.[0]?.ApplyServerSideEncryptionByDefault;
        return rule
          ? `${rule.SSEAlgorithm}${rule.KMSMasterKeyID ? ` (${rule.KMSMasterKeyID})` : ''}`
          : 'none';
      }, ['ServerSideEncryptionConfigurationNotFoundError']).then((s) =>
        'value' in s && s.value === undefined ? { value: 'none' } : s,
      ),
      ask('GetPublicAccessBlock', async () => {
        const p = (await client.send(new GetPublicAccessBlockCommand({ Bucket: name })))
          .PublicAccessBlockConfiguration;
        return Object.fromEntries(Object.entries(p ?? {}).map(([k, v]) => [k, Boolean(v)]));
      }, ['NoSuchPublicAccessBlockConfiguration']).then((s) =>
        'value' in s && s.value === undefined ? { value: {} } : s,
      ),
      ask('GetBucketLogging', async () => {
        const l = (await client.send(new GetBucketLoggingCommand({ Bucket: name }))).LoggingEnabled;
        return l ? `to s3://${l.TargetBucket}/${l.TargetPrefix ?? ''}` : 'off';
      }),
      ask('GetBucketWebsite', async () => {
        const w = await client.send(new GetBucketWebsiteCommand({ Bucket: name }));
        return w.RedirectAllRequestsTo
          ? `redirects to ${w.RedirectAllRequestsTo.HostName}`
          : `index ${w.IndexDocument?.Suffix ?? '-'}, error ${w.ErrorDocument?.Key ?? '-'}`;
      }, ['NoSuchWebsiteConfiguration']).then((s) =>
        'value' in s && s.value === undefined ? { value: 'off' } : s,
      ),
    ]);
  return {
    name,
    region,
    versioning,
    acceleration,
    lifecycleRules,
    encryption,
    publicAccessBlock,
    logging,
    website,
  };
}
