import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type * as Presigner from '@aws-sdk/s3-request-presigner';
import { StorageError } from '../storage/errors.js';
import type { PresignedUrl, PresignOptions } from '../storage/types.js';
import type { ObjectParams } from './object-params.js';

export type { PresignedUrl, PresignOptions } from '../storage/types.js';

/** SigV4 presigned URLs live at most 7 days: S3 refuses an `X-Amz-Expires` above 604800. */
export const MAX_PRESIGN_SECONDS = 7 * 24 * 3600;

/**
 * A presigned URL for one object (SigV4, query-string auth): GET to download it, PUT to upload
 * it without credentials (the object then gets the connection's storage class, SSE and ACL, which
 * are signed into the URL). Temporary credentials (a role, SSO, IMDS) cap the URL's life at their
 * own expiry, which `credentialsExpireAt` reports; SSE-C objects need the key headers on every use.
 */
export async function presignObjectUrl(
  client: S3Client,
  bucket: string,
  key: string,
  params: ObjectParams,
  options: PresignOptions,
): Promise<PresignedUrl> {
  const { expiresIn } = options;
  if (!Number.isInteger(expiresIn) || expiresIn < 1) {
    throw new StorageError(
      'InvalidArgument',
      `expiry must be a positive number of seconds, got ${expiresIn}`,
    );
  }
  if (expiresIn > MAX_PRESIGN_SECONDS) {
    throw new StorageError(
      'InvalidArgument',
      `presigned URLs live at most 7 days (604800 s): S3's Signature V4 refuses a longer X-Amz-Expires. For a link that lives longer (or can be revoked), share it from \`ferry serve\`, which signs a fresh short-lived URL at each use`,
    );
  }
  const method = options.method ?? 'GET';
  const ssec: Record<string, string> = params.read.SSECustomerKey
    ? {
        'x-amz-server-side-encryption-customer-algorithm': 'AES256',
        'x-amz-server-side-encryption-customer-key': params.read.SSECustomerKey,
      }
    : {};
  const command =
    method === 'GET'
      ? new GetObjectCommand({ Bucket: bucket, Key: key, ...params.read })
      : new PutObjectCommand({
          Bucket: bucket,
          Key: key,
          ...params.create,
          ContentType: options.contentType,
          Metadata: Object.keys(params.metadata).length ? params.metadata : undefined,
        });
  // SSE-C headers can't travel in the query string (S3 wants the key in a header, over TLS).
  const unhoistableHeaders = new Set(Object.keys(ssec));
  const url = await getSignedUrl(client, command, { expiresIn, unhoistableHeaders });
  const credentials = await client.config.credentials();
  const headers: Record<string, string> = { ...ssec };
  if (method === 'PUT' && options.contentType) headers['content-type'] = options.contentType;
  return {
    url,
    method,
    expiresAt: new Date(Date.now() + expiresIn * 1000),
    headers,
    credentialsExpireAt:
      credentials.expiration && credentials.expiration.getTime() < Date.now() + expiresIn * 1000
        ? credentials.expiration
        : undefined,
  };
}

/**
 * The object's URL without a signature, as the SDK addresses it (endpoint, path-style or
 * virtual-host, region, acceleration): a presigned URL with its query string removed.
 */
export async function objectUrl(client: S3Client, bucket: string, key: string): Promise<string> {
  const signed = new URL(
    await getSignedUrl(client, new GetObjectCommand({ Bucket: bucket, Key: key }), { expiresIn: 60 }),
  );
  signed.search = '';
  return signed.toString();
}

/** The SDK's presigner, loaded on the first URL signed (commands that sign none never load it). */
async function getSignedUrl(
  client: S3Client,
  command: GetObjectCommand | PutObjectCommand,
  options: Parameters<typeof Presigner.getSignedUrl>[2],
): Promise<string> {
  return (await import('@aws-sdk/s3-request-presigner')).getSignedUrl(client, command, options);
}
