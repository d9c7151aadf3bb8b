import type { z as Zod } from 'zod';
import { parseProxyUrl } from './proxy.js';

/** Where credentials come from; `auto` walks the default chain (see credentials/chain.ts). */
export const credentialSources = [
  'auto',
  'static',
  'env',
  'profile',
  'web-identity',
  'ecs',
  'imds',
  'anonymous',
] as const;
export type CredentialSourceName = (typeof credentialSources)[number];

export const cannedAcls = [
  'private',
  'public-read',
  'public-read-write',
  'authenticated-read',
  'aws-exec-read',
  'bucket-owner-read',
  'bucket-owner-full-control',
] as const;

/**
 * Everything needed to reach one bucket (and a key prefix inside it), and how objects written
 * through it are stored. Declared once: the schema gives defaults and validation;
 * `s3ConnectionFlags` (connection.ts) gives the CLI flags and their help. Validated at the boundary
 * (URL + flags, a named connection, the account store); inside, the typed value is trusted.
 *
 * Built on the zod instance it is given: connection-schema.ts builds it on the program's zod (API
 * schemas, tests), while the CLI validates without zod (connection-check.ts) and builds it only
 * when that check cannot vouch for an input (connection.ts), so `ferry ls` does not load zod.
 */
export function connectionSchemas(z: typeof Zod) {
  const fields = z.object({
    bucket: z.string().min(3, 'bucket names have at least 3 characters'),
    /** Key prefix used as the root (a chroot no path can leave). */
    prefix: z.string().default(''),
    /** Custom endpoint URL (scheme://host[:port]); unset means AWS. */
    endpoint: z.url({ protocol: /^https?$/ }).optional(),
    /** Unset: $AWS_REGION, else discovered from the bucket (doctor), else us-east-1. */
    region: z.string().optional(),
    /** Path-style addressing (`host/bucket/key`); default: on for custom endpoints, off for AWS. */
    pathStyle: z.boolean().optional(),
    /** PEM file with the CA certificates to trust for an HTTPS endpoint (private CA). */
    caBundle: z.string().optional(),
    /** Accept any TLS certificate. Dangerous: a warning is printed whenever it is used. */
    insecureTls: z.boolean().default(false),
    /** AWS only: S3 Transfer Acceleration endpoint (bucket must have it enabled). */
    accelerate: z.boolean().default(false),
    /** AWS only: dual-stack (IPv4 + IPv6) endpoint. */
    dualstack: z.boolean().default(false),
    /** ListObjects version: 2 (default) or 1 for old stores that lack ListObjectsV2. */
    listVersion: z.union([z.literal(1), z.literal(2)]).default(2),
    /** Don't check the bucket at login (for credentials that may not HEAD/list the bucket). */
    noCheckBucket: z.boolean().default(false),
    /**
     * HTTP(S) proxy for S3 traffic (`http://[user@]host:port`); unset: $https_proxy/$http_proxy.
     * NO_PROXY applies to it too (proxy.ts). A password given in the URL is moved to
     * `proxyPassword` by parseConnection, so that it is kept (and sealed) as a secret.
     */
    proxy: z.string().min(1).optional(),
    /** The proxy's password (a secret: never shown, logged or returned). */
    proxyPassword: z.string().optional(),
    /**
     * Request signing: `v4` (AWS Signature Version 4, default) or `v2` (the legacy HMAC-SHA1
     * header signature that old stores such as Riak CS and older EMC ECS need; sigv2.ts).
     */
    signature: z.enum(['v4', 'v2']).default('v4'),

    // Object settings: applied to every object written (see object-params.ts).
    storageClass: z.string().optional(),
    /** Server-side encryption: `AES256` (SSE-S3), `aws:kms` (SSE-KMS, with sseKmsKeyId). */
    sse: z.enum(['AES256', 'aws:kms', 'aws:kms:dsse']).optional(),
    sseKmsKeyId: z.string().optional(),
    /** SSE-C: a 256-bit key, as 44 base64 characters or 32 raw characters; sent on every call. */
    sseCustomerKey: z.string().optional(),
    acl: z.enum(cannedAcls).optional(),
    cacheControl: z.string().optional(),
    /** User metadata added to every object written (x-amz-meta-NAME). */
    metadata: z.record(z.string(), z.string()).default({}),
    /** The requester pays for requests and transfer (x-amz-request-payer: requester). */
    requesterPays: z.boolean().default(false),

    // Credentials (credentials/chain.ts).
    credentialSource: z.enum(credentialSources).default('auto'),
    accessKeyId: z.string().optional(),
    secretAccessKey: z.string().optional(),
    sessionToken: z.string().optional(),
    /** Profile in ~/.aws/credentials and ~/.aws/config (default $AWS_PROFILE, else `default`). */
    profile: z.string().optional(),
    /** Current MFA code for a profile with `mfa_serial` (otherwise asked on the terminal). */
    mfaToken: z.string().optional(),
    /** Assume this role on top of whatever source answered. */
    roleArn: z.string().optional(),
    externalId: z.string().optional(),
    roleSessionName: z.string().default('ferry'),
    roleDurationSeconds: z.number().int().min(900).max(43_200).default(3600),
    stsEndpoint: z.url({ protocol: /^https?$/ }).optional(),
    stsRegion: z.string().optional(),
    /** Instance metadata endpoint (default $AWS_EC2_METADATA_SERVICE_ENDPOINT, else 169.254.169.254). */
    imdsEndpoint: z.url({ protocol: /^https?$/ }).optional(),
    /** Fall back to IMDSv1 (no token) when IMDSv2 is unavailable. Off unless enabled. */
    imdsV1Fallback: z.boolean().default(false),

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
  /** With the cross-field rules: what every boundary validates with. */
  const schema = fields.superRefine((c, ctx) => {
    for (const { message, path } of connectionIssues(c))
      ctx.addIssue({ code: 'custom', message, path: [path] });
  });
  return { fields, schema };
}

/** A connection as validated (defaults applied). */
export type S3Connection = Zod.infer<ReturnType<typeof connectionSchemas>['schema']>;
/** A connection as written by a user (defaults optional). */
export type S3ConnectionInput = Zod.input<ReturnType<typeof connectionSchemas>['schema']>;

/**
 * The rules between the fields of a connection whose fields are each valid: one issue (message,
 * and the field it is reported on) per rule broken.
 */
export function connectionIssues(c: S3Connection): { message: string; path: string }[] {
  const issues: { message: string; path: string }[] = [];
  const issue = (message: string, path: string) => issues.push({ message, path });
  if (c.sseKmsKeyId && c.sse !== 'aws:kms' && c.sse !== 'aws:kms:dsse')
    issue('sse-kms-key-id needs --sse aws:kms', 'sseKmsKeyId');
  if (c.sseCustomerKey && c.sse) issue('SSE-C (customer key) and --sse exclude each other', 'sse');
  if (c.sseCustomerKey && sseCustomerKeyBytes(c.sseCustomerKey) === undefined)
    issue('the SSE-C key must be 32 bytes: 44 base64 characters or 32 characters', 'sseCustomerKey');
  if ((c.accelerate || c.dualstack) && !isAwsEndpoint(c.endpoint))
    issue('acceleration and dual-stack exist only on AWS (no custom endpoint)', 'accelerate');
  if (c.accelerate && c.bucket.includes('.'))
    issue('transfer acceleration needs a bucket name without dots', 'accelerate');
  if (c.credentialSource === 'static' && !(c.accessKeyId && c.secretAccessKey))
    issue('credential source "static" needs an access key id and a secret', 'accessKeyId');
  if (c.externalId && !c.roleArn) issue('external-id needs role-arn', 'externalId');
  if (c.proxy) {
    try {
      parseProxyUrl(c.proxy, 'proxy');
    } catch (err) {
      issue((err as Error).message.replace(/^proxy: /, ''), 'proxy');
    }
  }
  if (c.signature === 'v2' && (c.sse === 'aws:kms' || c.sse === 'aws:kms:dsse'))
    issue('SSE-KMS needs Signature V4 (AWS refuses KMS requests signed with V2)', 'signature');
  return issues;
}

/** The 32 key bytes of an SSE-C key given as base64 (44 chars) or as 32 raw characters. */
export function sseCustomerKeyBytes(key: string): Buffer | undefined {
  if (/^[A-Za-z0-9+/]{43}=$/.test(key)) {
    const b = Buffer.from(key, 'base64');
    if (b.length === 32) return b;
  }
  const raw = Buffer.from(key, 'utf8');
  return raw.length === 32 ? raw : undefined;
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
