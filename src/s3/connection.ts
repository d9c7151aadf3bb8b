import { z } from 'zod';
import { normalizePath } from '../storage/paths.js';
import { parseS3Url } from './url.js';

/**
 * Everything needed to reach one bucket (and a key prefix inside it). Declared once: the schema
 * gives defaults and validation; `s3ConnectionFlags` below gives the CLI flags and their help.
 */
export const s3ConnectionSchema = z.object({
  bucket: z.string().min(3, 'bucket names have at least 3 characters'),
  /** Key prefix used as the root (a chroot no path can leave). */
  prefix: z.string().default(''),
  /** Custom endpoint URL (scheme://host[:port]); unset means AWS. */
  endpoint: z.url({ protocol: /^https?$/ }).optional(),
  region: z.string().optional(),
  /** Path-style addressing (`host/bucket/key`); default: on for custom endpoints, off for AWS. */
  pathStyle: z.boolean().optional(),
  accessKeyId: z.string().optional(),
  secretAccessKey: z.string().optional(),
  sessionToken: z.string().optional(),
  /** Objects at least this large are copied with UploadPartCopy (S3's CopyObject limit is 5 GiB). */
  multipartCopyThreshold: z
    .number()
    .int()
    .min(5 * 1024 * 1024)
    .default(5 * 1024 ** 3),
  /** Part size of multipart copies. */
  multipartCopyPartSize: z
    .number()
    .int()
    .min(5 * 1024 * 1024)
    .default(512 * 1024 ** 2),
  /** Parallel requests for tree operations (folder rename, recursive delete, part copies). */
  concurrency: z.number().int().min(1).max(256).default(16),
  /** Uploads at least this large go up in parts (multipart); smaller ones in one PUT. */
  multipartThreshold: z
    .number()
    .int()
    .min(5 * 1024 * 1024)
    .default(16 * 1024 * 1024),
  /** Part size of multipart uploads and of ranged downloads (grows to stay within 10,000 parts). */
  partSize: z
    .number()
    .int()
    .min(5 * 1024 * 1024)
    .max(5 * 1024 ** 3)
    .default(16 * 1024 * 1024),
  /** Parts in memory at once per transfer (filled or in flight); memory ≈ part size × this. */
  partConcurrency: z.number().int().min(1).max(64).default(6),
  /**
   * Open a fresh connection for the first GET of each read (see download.ts): ~3 ms instead of
   * ~45 ms per small file on Ceph RGW. Default: on for plain-HTTP custom endpoints, off otherwise.
   */
  freshConnectionGets: z.boolean().optional(),
});

export type S3Connection = z.infer<typeof s3ConnectionSchema>;
export type S3ConnectionInput = z.input<typeof s3ConnectionSchema>;

/** CLI flags for the connection options (name in the schema → flag and help text). */
export const s3ConnectionFlags = [
  {
    key: 'endpoint',
    flag: '--endpoint <url>',
    help: 'S3 endpoint URL (default: AWS, or $AWS_ENDPOINT_URL_S3 / $AWS_ENDPOINT_URL)',
  },
  { key: 'region', flag: '--region <region>', help: 'S3 region (default: $AWS_REGION, else us-east-1)' },
  { key: 'pathStyle', flag: '--path-style', help: 'path-style addressing (default for custom endpoints)' },
  {
    key: 'pathStyle',
    flag: '--virtual-host',
    help: 'virtual-host addressing (default for AWS)',
    value: false,
  },
  {
    key: 'multipartCopyThreshold',
    flag: '--multipart-copy-threshold <bytes>',
    help: 'copy in parts from this size (default 5 GiB)',
    parse: 'bytes',
  },
  {
    key: 'multipartThreshold',
    flag: '--multipart-threshold <bytes>',
    help: 'upload in parts from this size (default 16MiB)',
    parse: 'bytes',
  },
  {
    key: 'partSize',
    flag: '--part-size <bytes>',
    help: 'part size of uploads and ranged downloads (default 16MiB)',
    parse: 'bytes',
  },
  {
    key: 'partConcurrency',
    flag: '--part-concurrency <n>',
    help: 'parts in memory at once per transfer (default 6); memory ≈ part size × this',
    parse: 'int',
  },
  {
    key: 'concurrency',
    flag: '--concurrency <n>',
    help: 'parallel S3 requests for tree operations (default 16)',
    parse: 'int',
  },
] as const;

/**
 * Build a connection from an `s3://` URL plus explicit options (which win over the URL), with the
 * endpoint falling back to `$AWS_ENDPOINT_URL_S3` / `$AWS_ENDPOINT_URL` as the AWS tools do.
 * Returns the connection and the key below the prefix that the URL named.
 */
export function connectionFromUrl(
  url: string,
  options: Partial<S3ConnectionInput> = {},
  env: NodeJS.ProcessEnv = process.env,
): S3Connection {
  const loc = parseS3Url(url);
  const endpoint =
    options.endpoint ?? loc.endpoint ?? (env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || undefined);
  return s3ConnectionSchema.parse({
    ...options,
    bucket: loc.bucket,
    prefix: normalizePath(options.prefix ?? loc.key),
    endpoint,
    region: options.region ?? loc.region,
    accessKeyId: options.accessKeyId ?? loc.accessKeyId,
    secretAccessKey: options.secretAccessKey ?? loc.secretAccessKey,
  });
}

/** True for endpoints run by AWS itself (where the SDK's defaults are right). */
export function isAwsEndpoint(endpoint: string | undefined): boolean {
  if (!endpoint) return true;
  try {
    return /(^|\.)amazonaws\.com(\.cn)?$/i.test(new URL(endpoint).hostname);
  } catch {
    return false;
  }
}
