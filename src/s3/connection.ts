import { createRequire } from 'node:module';
import type { z as Zod } from 'zod';
import { StorageError } from '../storage/errors.js';
import { normalizePath } from '../storage/paths.js';
import { plainConnection } from './connection-check.js';
import {
  connectionSchemas,
  credentialSources,
  type S3Connection,
  type S3ConnectionInput,
} from './connection-fields.js';
import { parseProxyUrl } from './proxy.js';
import { parseS3Url } from './url.js';

// The declaration (connection-fields.ts) and the zod schema built from it (connection-schema.ts)
// live apart so that validating a connection does not need zod (see parseConnection).
export {
  type CredentialSourceName,
  cannedAcls,
  credentialSources,
  isAwsEndpoint,
  type S3Connection,
  type S3ConnectionInput,
  sseCustomerKeyBytes,
} from './connection-fields.js';

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

/**
 * Validate a connection, turning schema errors into one InvalidArgument naming each field. An
 * input whose every field is plainly valid is checked without zod (connection-check.ts: same
 * result, same defaults); anything else — every input with an error among them — goes through the
 * zod schema, loaded then (~95 modules that `ferry ls` would otherwise pay for at start-up).
 */
export function parseConnection(input: unknown): S3Connection {
  const plain = plainConnection(input);
  if (plain) return separateProxyPassword(plain);
  const r = zodSchema().safeParse(input);
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

let schema: ReturnType<typeof connectionSchemas>['schema'] | undefined;

/**
 * The schema on zod's CommonJS build: parseConnection is synchronous, and Node 20 cannot import
 * an ES module synchronously. (A server that imported connection-schema.ts holds a second zod
 * then, only once an input needed it.)
 */
function zodSchema(): ReturnType<typeof connectionSchemas>['schema'] {
  if (!schema) {
    const { z } = createRequire(import.meta.url)('zod') as { z: typeof Zod };
    schema = connectionSchemas(z).schema;
  }
  return schema;
}
