import { createHmac } from 'node:crypto';
import type { AwsCredentialIdentityProvider, HttpRequest, RequestSigner } from '@smithy/types';

/**
 * AWS Signature Version 2 (header authentication) for the SDK v3, which has no V2 signer: legacy
 * stores (Riak CS, older EMC ECS, old Ceph and Cloudian set-ups) accept only this.
 *
 *   Authorization: AWS AccessKeyId:Base64(HMAC-SHA1(secret, StringToSign))
 *   StringToSign = VERB \n Content-MD5 \n Content-Type \n Date \n CanonicalizedAmzHeaders CanonicalizedResource
 *
 * The date goes in `x-amz-date` (so the Date line is empty and the date is signed among the amz
 * headers). The resource is `/bucket/key` as sent (URI-encoded), plus the sub-resources of
 * SUB_RESOURCES, sorted, with their decoded values. Query-string presigning is not done here
 * (presign.ts signs with V4).
 */
export const SUB_RESOURCES = new Set([
  'accelerate',
  'acl',
  'cors',
  'delete',
  'encryption',
  'lifecycle',
  'location',
  'logging',
  'notification',
  'object-lock',
  'ownershipControls',
  'partNumber',
  'policy',
  'publicAccessBlock',
  'replication',
  'requestPayment',
  'response-cache-control',
  'response-content-disposition',
  'response-content-encoding',
  'response-content-language',
  'response-content-type',
  'response-expires',
  'restore',
  'tagging',
  'torrent',
  'uploadId',
  'uploads',
  'versionId',
  'versioning',
  'versions',
  'website',
]);

function header(request: HttpRequest, name: string): string {
  for (const [k, v] of Object.entries(request.headers)) if (k.toLowerCase() === name) return v;
  return '';
}

/**
 * The StringToSign of a request. `bucketOf(hostname)` names the bucket of a virtual-host
 * request (undefined for path-style, where the path starts with it).
 */
export function stringToSignV2(
  request: HttpRequest,
  bucketOf: (hostname: string) => string | undefined,
): string {
  const amz = new Map<string, string[]>();
  for (const [k, v] of Object.entries(request.headers)) {
    const name = k.toLowerCase();
    if (!name.startsWith('x-amz-')) continue;
    const list = amz.get(name) ?? [];
    list.push(
      String(v)
        .replace(/\s*\r?\n\s*/g, ' ')
        .trim(),
    );
    amz.set(name, list);
  }
  const amzLines = [...amz.keys()]
    .sort()
    .map((name) => `${name}:${amz.get(name)!.join(',')}\n`)
    .join('');
  const bucket = bucketOf(request.hostname);
  let resource = bucket ? `/${bucket}${request.path || '/'}` : request.path || '/';
  const subs = Object.keys(request.query ?? {})
    .filter((k) => SUB_RESOURCES.has(k))
    .sort();
  if (subs.length) {
    resource += `?${subs
      .map((k) => {
        const raw = request.query?.[k];
        const v = Array.isArray(raw) ? raw[0] : raw;
        return v === undefined || v === null || v === '' ? k : `${k}=${v}`;
      })
      .join('&')}`;
  }
  const date = amz.has('x-amz-date') ? '' : header(request, 'date');
  return `${request.method}\n${header(request, 'content-md5')}\n${header(request, 'content-type')}\n${date}\n${amzLines}${resource}`;
}

/**
 * The SDK signer (`S3ClientConfig.signer`) that signs with V2. `endpointHost` is the configured
 * endpoint's hostname, to tell the bucket in a virtual-host name (`bucket.host`) from the host.
 */
export function sigV2Signer(
  credentials: AwsCredentialIdentityProvider,
  endpointHost: string | undefined,
): RequestSigner {
  const bucketOf = (hostname: string): string | undefined => {
    if (endpointHost && hostname.endsWith(`.${endpointHost}`))
      return hostname.slice(0, -endpointHost.length - 1);
    if (!endpointHost) return /^(.+)\.s3[.-]/.exec(hostname)?.[1]; // AWS: bucket.s3.region.amazonaws.com
    return undefined;
  };
  return {
    sign: async (request) => {
      const req = request as HttpRequest;
      const c = await credentials();
      for (const k of Object.keys(req.headers)) {
        const name = k.toLowerCase();
        // What a V4 signature would carry (or a previous attempt's V2) goes: it is re-made here.
        if (name === 'authorization' || name === 'x-amz-date' || name === 'x-amz-content-sha256')
          delete req.headers[k];
        if (name === 'x-amz-security-token') delete req.headers[k];
      }
      req.headers['x-amz-date'] = new Date().toUTCString();
      if (c.sessionToken) req.headers['x-amz-security-token'] = c.sessionToken;
      const signature = createHmac('sha1', c.secretAccessKey)
        .update(stringToSignV2(req, bucketOf), 'utf8')
        .digest('base64');
      req.headers.authorization = `AWS ${c.accessKeyId}:${signature}`;
      return req;
    },
  };
}
