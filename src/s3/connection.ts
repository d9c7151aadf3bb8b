import { z } from 'zod';
import { StorageError } from '../storage/errors.js';
import { normalizePath } from '../storage/paths.js';
import { parseProxyUrl } from './proxy.js';
import { parseS3Url } from './url.js';

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
 * `s3ConnectionFlags` below gives the CLI flags and their help. Validated at the boundary
 * (URL + flags, a named connection, the account store); inside, the typed value is trusted.
 */
export const s3ConnectionFields = z.object({
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

/** The connection schema with its cross-field rules (what every boundary validates with). */
export const s3ConnectionSchema = s3ConnectionFields.superRefine((c, ctx) => {
  const issue = (message: string, path: string) => ctx.addIssue({ code: 'custom', message, path: [path] });
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
});

export type S3Connection = z.infer<typeof s3ConnectionSchema>;
export type S3ConnectionInput = z.input<typeof s3ConnectionSchema>;

/** The 32 key bytes of an SSE-C key given as base64 (44 chars) or as 32 raw characters. */
export function sseCustomerKeyBytes(key: string): Buffer | undefined {
  if (/^[A-Za-z0-9+/]{43}=$/.test(key)) {
    const b = Buffer.from(key, 'base64');
    if (b.length === 32) return b;
  }
  const raw = Buffer.from(key, 'utf8');
  return raw.length === 32 ? raw : undefined;
}

type Flag = {
  key: keyof S3ConnectionInput;
  flag: string;
  help: string;
  value?: unknown;
  parse?: 'bytes' | 'int' | 'keyValue';
};

/**
 * CLI flags for the connection options (name in the schema → flag and help text). Secrets
 * (secret key, session token, SSE-C key) are taken from flags too, but prefer the environment or
 * a named connection: command lines are visible to other users of the machine.
 */
export const s3ConnectionFlags: readonly Flag[] = [
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
  { key: 'caBundle', flag: '--ca-bundle <file>', help: 'PEM file of CA certificates to trust (HTTPS)' },
  { key: 'insecureTls', flag: '--insecure', help: 'accept any TLS certificate (dangerous; warns)' },
  { key: 'accelerate', flag: '--accelerate', help: 'AWS S3 Transfer Acceleration endpoint' },
  { key: 'dualstack', flag: '--dualstack', help: 'AWS dual-stack (IPv6) endpoint' },
  { key: 'listVersion', flag: '--list-v1', help: 'use ListObjects v1 (old stores without V2)', value: 1 },
  { key: 'noCheckBucket', flag: '--skip-bucket-check', help: "don't check the bucket at login" },
  {
    key: 'proxy',
    flag: '--proxy <url>',
    help: 'HTTP(S) proxy for S3 traffic, http://[user:password@]host:port (default $https_proxy / $http_proxy; $no_proxy applies)',
  },
  { key: 'proxyPassword', flag: '--proxy-password <password>', help: "the proxy's password (or in --proxy)" },
  {
    key: 'signature',
    flag: '--signature-v2',
    help: 'sign requests with AWS Signature V2 (legacy stores: Riak CS, old EMC ECS)',
    value: 'v2',
  },
  {
    key: 'storageClass',
    flag: '--storage-class <class>',
    help: 'storage class of new objects (STANDARD, STANDARD_IA, GLACIER_IR, …)',
  },
  { key: 'sse', flag: '--sse <algorithm>', help: 'server-side encryption: AES256 (SSE-S3) or aws:kms' },
  { key: 'sseKmsKeyId', flag: '--sse-kms-key-id <id>', help: 'KMS key id or ARN for --sse aws:kms' },
  {
    key: 'sseCustomerKey',
    flag: '--sse-c-key <key>',
    help: 'SSE-C customer key (32 bytes, or 44 base64 chars); sent on every read and write',
  },
  { key: 'acl', flag: '--acl <canned-acl>', help: 'canned ACL of new objects (private, public-read, …)' },
  { key: 'cacheControl', flag: '--cache-control <value>', help: 'Cache-Control of new objects' },
  {
    key: 'metadata',
    flag: '--meta <name=value>',
    help: 'metadata added to new objects (repeatable)',
    parse: 'keyValue',
  },
  { key: 'requesterPays', flag: '--requester-pays', help: 'the requester pays (x-amz-request-payer)' },
  {
    key: 'credentialSource',
    flag: '--credentials <source>',
    help: `credential source: ${credentialSources.join(', ')} (default auto: static, env, profile, web-identity, ecs, imds)`,
  },
  { key: 'accessKeyId', flag: '--access-key <id>', help: 'access key id (default: the credential chain)' },
  { key: 'secretAccessKey', flag: '--secret-key <secret>', help: 'secret access key' },
  { key: 'sessionToken', flag: '--session-token <token>', help: 'session token of temporary keys' },
  { key: 'profile', flag: '--profile <name>', help: 'AWS profile (default $AWS_PROFILE)' },
  { key: 'mfaToken', flag: '--mfa-token <code>', help: 'MFA code for a profile with mfa_serial' },
  { key: 'roleArn', flag: '--role-arn <arn>', help: 'assume this IAM role on top of the credentials' },
  { key: 'externalId', flag: '--external-id <id>', help: 'external id for --role-arn' },
  { key: 'roleSessionName', flag: '--role-session-name <name>', help: 'session name (default ferry)' },
  {
    key: 'roleDurationSeconds',
    flag: '--role-duration <seconds>',
    help: 'assumed-role session length (default 3600)',
    parse: 'int',
  },
  { key: 'stsEndpoint', flag: '--sts-endpoint <url>', help: 'STS endpoint (default: AWS, regional)' },
  { key: 'stsRegion', flag: '--sts-region <region>', help: 'STS region (default: the S3 region)' },
  { key: 'imdsEndpoint', flag: '--imds-endpoint <url>', help: 'EC2 instance metadata endpoint' },
  { key: 'imdsV1Fallback', flag: '--imds-v1', help: 'allow IMDSv1 when IMDSv2 is unavailable' },
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
    key: 'freshConnectionGets',
    flag: '--fresh-connection-gets',
    help: 'first GET of each read on a fresh connection (default for plain-HTTP custom endpoints)',
  },
  {
    key: 'concurrency',
    flag: '--concurrency <n>',
    help: 'parallel S3 requests for tree operations (default 16)',
    parse: 'int',
  },
];

/**
 * Build a connection from an `s3://` URL plus explicit options (which win over the URL), with the
 * endpoint falling back to `$AWS_ENDPOINT_URL_S3` / `$AWS_ENDPOINT_URL` as the AWS tools do.
 * The CrushFTP spelling `s3://iam_lookup:lookup@host/…` selects the instance role (IMDS).
 */
export function connectionFromUrl(
  url: string,
  options: Partial<S3ConnectionInput> = {},
  env: NodeJS.ProcessEnv = process.env,
): S3Connection {
  const loc = parseS3Url(url);
  const endpoint =
    options.endpoint ?? loc.endpoint ?? (env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || undefined);
  const iamLookup = loc.accessKeyId === 'iam_lookup' && loc.secretAccessKey === 'lookup';
  return parseConnection({
    ...options,
    bucket: loc.bucket,
    prefix: normalizePath(options.prefix ?? loc.key),
    endpoint,
    region: options.region ?? loc.region,
    ...(iamLookup
      ? { credentialSource: 'imds' as const }
      : {
          accessKeyId: options.accessKeyId ?? loc.accessKeyId,
          secretAccessKey: options.secretAccessKey ?? loc.secretAccessKey,
        }),
  });
}

/** Validate a connection, turning schema errors into one InvalidArgument naming each field. */
export function parseConnection(input: unknown): S3Connection {
  const r = s3ConnectionSchema.safeParse(input);
  if (r.success) return separateProxyPassword(r.data);
  const detail = r.error.issues.map((i) => `${i.path.join('.') || 'connection'}: ${i.message}`).join('; ');
  throw new StorageError('InvalidArgument', `invalid S3 connection: ${detail}`, { cause: r.error });
}

/** A password in the proxy URL moves to `proxyPassword` (a secret field); the URL keeps the user. */
function separateProxyPassword(c: S3Connection): S3Connection {
  if (!c.proxy) return c;
  const url = parseProxyUrl(c.proxy, 'proxy');
  if (!url.password) return c;
  const password = decodeURIComponent(url.password);
  url.password = '';
  return { ...c, proxy: url.toString().replace(/\/$/, ''), proxyPassword: c.proxyPassword ?? password };
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
