import { GetBucketLocationCommand, HeadBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import type { S3Connection } from './connection.js';
import { translateS3Error } from './errors.js';

/** An AWS-style region name; stores such as RGW answer GetBucketLocation with a zone group name. */
const REGION = /^[a-z]{2}(-[a-z]+)+-\d+$/;

/**
 * The bucket's region as the store reports it: `x-amz-bucket-region` on HeadBucket (AWS sends it
 * even with a 301 or 403), else GetBucketLocation. Undefined when neither names an AWS-style
 * region — then the configured region stays in use (RGW, MinIO accept any).
 */
export async function discoverBucketRegion(client: S3Client, bucket: string): Promise<string | undefined> {
  try {
    const head = await client.send(new HeadBucketCommand({ Bucket: bucket }));
    if (head.BucketRegion && REGION.test(head.BucketRegion)) return head.BucketRegion;
  } catch (err) {
    const h = (err as { $response?: { headers?: Record<string, string> } }).$response?.headers ?? {};
    const r = h['x-amz-bucket-region'];
    if (r && REGION.test(r)) return r;
  }
  try {
    const loc = await client.send(new GetBucketLocationCommand({ Bucket: bucket }));
    const r = loc.LocationConstraint || 'us-east-1'; // S3 answers '' for us-east-1
    return REGION.test(r) ? r : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The login-time bucket check: one HeadBucket, its error translated (no such bucket, access
 * denied naming s3:ListBucket, unreachable endpoint). Skipped when the connection says
 * `noCheckBucket` — for credentials that may write into a bucket but not look at it.
 * Returns whether a request was made.
 */
export async function checkBucket(client: S3Client, conn: S3Connection): Promise<boolean> {
  if (conn.noCheckBucket) return false;
  try {
    await client.send(new HeadBucketCommand({ Bucket: conn.bucket }));
    return true;
  } catch (err) {
    const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
    // HEAD answers carry no body: a 404 on the bucket is "no such bucket".
    const named =
      e.$metadata?.httpStatusCode === 404 && e.name !== 'NoSuchBucket' ? { ...e, name: 'NoSuchBucket' } : err;
    throw translateS3Error(named, { operation: 'HeadBucket', bucket: conn.bucket });
  }
}
