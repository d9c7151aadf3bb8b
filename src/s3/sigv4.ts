import { createHash, createHmac } from 'node:crypto';

/**
 * AWS Signature V4 for one S3 request, as the lean small-object path (small-object.ts) and the
 * lean listing (list-lean.ts) need it: the query string given in canonical form, headers given in
 * full, the payload hash given by the caller (a PUT hashes its body anyway for `ferry-sha256`; a
 * GET signs the empty payload). The signing key is derived once
 * per secret, day and region and kept (the SDK derives it through four HMACs per request).
 */

export interface SigningCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/** SHA-256 of no bytes (the payload hash of a GET). */
export const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

/** `2026-11-27T23:01:16.123Z` → `20261127T230116Z`. */
export function amzDate(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
}

/** RFC 3986 encoding of one path segment, as S3 expects it (and signs it: no double encoding). */
export function encodeSegment(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** `/bucket/a b/c` → `/bucket/a%20b/c`: every segment encoded, the slashes kept. */
export function encodePath(path: string): string {
  return path.split('/').map(encodeSegment).join('/');
}

/**
 * A query string in SigV4's canonical form, which is also what is sent: names sorted, names and
 * values RFC 3986 encoded; parameters whose value is undefined left out.
 */
export function canonicalQuery(params: Record<string, string | undefined>): string {
  return Object.keys(params)
    .filter((k) => params[k] !== undefined)
    .map((k) => `${encodeSegment(k)}=${encodeSegment(params[k]!)}`)
    .sort()
    .join('&');
}

const keys = new Map<string, Buffer>();

function signingKey(secret: string, day: string, region: string): Buffer {
  const id = `${day}\n${region}\n${secret}`;
  let key = keys.get(id);
  if (!key) {
    const kDate = createHmac('sha256', `AWS4${secret}`).update(day).digest();
    const kRegion = createHmac('sha256', kDate).update(region).digest();
    const kService = createHmac('sha256', kRegion).update('s3').digest();
    key = createHmac('sha256', kService).update('aws4_request').digest();
    // A handful of secrets × days at most; forget the lot rather than grow without bound.
    if (keys.size > 64) keys.clear();
    keys.set(id, key);
  }
  return key;
}

/**
 * Sign a request: adds `x-amz-date`, `x-amz-content-sha256`, `x-amz-security-token` (with a
 * session token) and `authorization` to `headers` (lower-case names; `host` must be there).
 * Every header given is signed.
 */
export function signV4(
  method: string,
  path: string,
  headers: Record<string, string>,
  payloadSha256: string,
  creds: SigningCredentials,
  region: string,
  nowMs: number,
  /** The canonical query string (`canonicalQuery`), '' for none. */
  query = '',
): void {
  const date = amzDate(nowMs);
  const day = date.slice(0, 8);
  headers['x-amz-date'] = date;
  headers['x-amz-content-sha256'] = payloadSha256;
  if (creds.sessionToken) headers['x-amz-security-token'] = creds.sessionToken;
  const names = Object.keys(headers).sort();
  let canonicalHeaders = '';
  for (const n of names) canonicalHeaders += `${n}:${headers[n]!.trim().replace(/\s+/g, ' ')}\n`;
  const signed = names.join(';');
  const canonical = `${method}\n${path}\n${query}\n${canonicalHeaders}\n${signed}\n${payloadSha256}`;
  const scope = `${day}/${region}/s3/aws4_request`;
  const toSign = `AWS4-HMAC-SHA256\n${date}\n${scope}\n${createHash('sha256').update(canonical).digest('hex')}`;
  const signature = createHmac('sha256', signingKey(creds.secretAccessKey, day, region))
    .update(toSign)
    .digest('hex');
  headers.authorization = `AWS4-HMAC-SHA256 Credential=${creds.accessKeyId}/${scope}, SignedHeaders=${signed}, Signature=${signature}`;
}
