import { StorageError } from '../storage/errors.js';
import { maskKey } from './credentials/static.js';

/** What an `s3://` location names. */
export interface S3Location {
  bucket: string;
  /** Key prefix inside the bucket, without leading or trailing `/` ('' for the bucket root). */
  key: string;
  /** Custom endpoint (with scheme) when the URL names a host; undefined means AWS. */
  endpoint?: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  /** Region when the URL names a regional AWS host (`s3.eu-west-1.amazonaws.com`). */
  region?: string;
}

const SCHEMES: Record<string, 'https' | 'http'> = { s3: 'https', 's3+https': 'https', 's3+http': 'http' };

/** True when `arg` is an S3 location rather than a local path. */
export function isS3Url(arg: string): boolean {
  return /^s3(\+https?)?:\/\//i.test(arg);
}

/**
 * Parse an S3 location. Two forms:
 * - `s3://bucket/prefix` — AWS (or the endpoint given separately), credentials from the chain;
 * - `s3://ACCESS_KEY:SECRET@host[:port]/bucket/prefix` — the host is the endpoint (HTTPS; use
 *   `s3+http://` for plain HTTP). Key and secret are URL-decoded, so a secret holding `@` or `:`
 *   is written `%40`, `%3A`; a raw `/` in a secret is accepted.
 * The key part is taken literally (as `aws s3` does): `%20` stays `%20`.
 * Hosts under amazonaws.com mean AWS itself: no custom endpoint, region taken from the host.
 */
export function parseS3Url(url: string): S3Location {
  const m = /^(s3(?:\+https?)?):\/\/(.*)$/is.exec(url);
  if (!m) throw new StorageError('InvalidArgument', `not an s3:// URL: ${url}`);
  const scheme = SCHEMES[m[1]!.toLowerCase()]!;
  let rest = m[2]!;

  let accessKeyId: string | undefined;
  let secretAccessKey: string | undefined;
  const at = rest.indexOf('@');
  const userinfo = at >= 0 ? rest.slice(0, at) : '';
  if (at >= 0 && /^[^/:]+:/.test(userinfo)) {
    const colon = userinfo.indexOf(':');
    accessKeyId = decode(userinfo.slice(0, colon), url);
    secretAccessKey = decode(userinfo.slice(colon + 1), url);
    rest = rest.slice(at + 1);
  }

  let endpoint: string | undefined;
  let region: string | undefined;
  const explicitHost = accessKeyId !== undefined || scheme === 'http' || m[1]!.includes('+');
  if (explicitHost) {
    const slash = rest.indexOf('/');
    const host = slash < 0 ? rest : rest.slice(0, slash);
    rest = slash < 0 ? '' : rest.slice(slash + 1);
    if (!host) throw new StorageError('InvalidArgument', `no host in ${redact(url)}`);
    // A raw `@` in the secret would leave its tail in the host (and in messages about the host).
    if (host.includes('@'))
      throw new StorageError(
        'InvalidArgument',
        'an "@" in the secret of an s3:// URL must be written %40 (and ":" as %3A)',
      );
    const aws =
      /^s3[.-](?:([a-z0-9-]+)\.)?amazonaws\.com(?:\.cn)?$/i.exec(host) ?? /^s3\.amazonaws\.com$/i.exec(host);
    if (aws) region = aws[1] && aws[1] !== 'external-1' ? aws[1] : undefined;
    else endpoint = `${scheme}://${host}`;
  }

  const slash = rest.indexOf('/');
  const bucket = slash < 0 ? rest : rest.slice(0, slash);
  const key = slash < 0 ? '' : rest.slice(slash + 1).replace(/^\/+|\/+$/g, '');
  if (!bucket) throw new StorageError('InvalidArgument', `no bucket in ${redact(url)}`);
  if (!/^[a-zA-Z0-9][a-zA-Z0-9._-]{1,254}$/.test(bucket)) {
    throw new StorageError('InvalidArgument', `not a valid bucket name: ${bucket}`);
  }
  return { bucket, key, endpoint, accessKeyId, secretAccessKey, region };
}

/**
 * The URL with its secret replaced by `***` and the access key masked (`AKIA…MPLE`), for
 * messages and logs. The secret ends at the first `@`, or at a later one before the next `/`
 * (a raw `@` in the secret, which parseS3Url refuses: a host never holds an `@`).
 */
export function redactUrl(url: string): string {
  const m = /^(s3(?:\+https?)?:\/\/)([^/:@]+):[^@]*@(?:[^/@]*@)*/i.exec(url);
  if (!m) return url;
  return `${m[1]}${maskKey(safeDecode(m[2]!))}:***@${url.slice(m[0].length)}`;
}

/** The older name of redactUrl. */
export const redact = redactUrl;

/**
 * Every `scheme://KEY:SECRET@` anywhere in a text with the secret replaced by `***` (and the key
 * masked): the last line of defence applied to every message the CLI prints, whatever built it.
 */
export function redactText(text: string): string {
  return text.replace(
    /\b([a-z][a-z0-9+.-]*:\/\/)([^\s/:@'"]+):[^\s@]*@(?:[^\s/@]*@)*/gi,
    (_all, scheme: string, key: string) => `${scheme}${maskKey(safeDecode(key))}:***@`,
  );
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function decode(s: string, url: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new StorageError('InvalidArgument', `bad %-escape in the credentials of ${redact(url)}`);
  }
}
