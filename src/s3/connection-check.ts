import { cannedAcls, connectionIssues, credentialSources, type S3Connection } from './connection-fields.js';

/** A field's test: true when the schema (connection-fields.ts) surely accepts the value as is. */
type Check = (v: unknown) => boolean;

const text: Check = (v) => typeof v === 'string';
const flag: Check = (v) => typeof v === 'boolean';
const minText =
  (min: number): Check =>
  (v) =>
    typeof v === 'string' && v.length >= min;
const int =
  (min: number, max = Number.MAX_SAFE_INTEGER): Check =>
  (v) =>
    Number.isSafeInteger(v) && (v as number) >= min && (v as number) <= max;
const oneOf =
  (values: readonly unknown[]): Check =>
  (v) =>
    values.includes(v);
/** An http(s) URL zod takes unchanged: no surrounding spaces, no tab or newline to strip. */
const httpUrl: Check = (v) => {
  if (typeof v !== 'string' || v !== v.trim() || /[\t\n\r]/.test(v) || !/^https?:\/\//i.test(v)) return false;
  try {
    const { protocol } = new URL(v);
    return protocol === 'http:' || protocol === 'https:';
  } catch {
    return false;
  }
};
/** Plain `name → text` pairs (what `z.record(z.string(), z.string())` gives back as a copy). */
const textRecord: Check = (v) => {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) return false;
  if (Object.getOwnPropertySymbols(v).length > 0) return false;
  return Object.entries(v).every(([k, x]) => k !== '__proto__' && typeof x === 'string');
};

const MiB = 1024 * 1024;

/**
 * Every field of the schema, in its order, with its test and default (a function: a fresh value
 * each time). Kept equal to connection-fields.ts by test/s3/connection-check.test.ts, which
 * compares both on every field and on many inputs.
 */
const FIELDS: readonly [key: keyof S3Connection, check: Check, fallback?: () => unknown][] = [
  ['bucket', minText(3)],
  ['prefix', text, () => ''],
  ['endpoint', httpUrl],
  ['region', text],
  ['pathStyle', flag],
  ['caBundle', text],
  ['insecureTls', flag, () => false],
  ['accelerate', flag, () => false],
  ['dualstack', flag, () => false],
  ['listVersion', oneOf([1, 2]), () => 2],
  ['noCheckBucket', flag, () => false],
  ['proxy', minText(1)],
  ['proxyPassword', text],
  ['signature', oneOf(['v4', 'v2']), () => 'v4'],
  ['storageClass', text],
  ['sse', oneOf(['AES256', 'aws:kms', 'aws:kms:dsse'])],
  ['sseKmsKeyId', text],
  ['sseCustomerKey', text],
  ['acl', oneOf(cannedAcls)],
  ['cacheControl', text],
  ['metadata', textRecord, () => ({})],
  ['requesterPays', flag, () => false],
  ['credentialSource', oneOf(credentialSources), () => 'auto'],
  ['accessKeyId', text],
  ['secretAccessKey', text],
  ['sessionToken', text],
  ['profile', text],
  ['mfaToken', text],
  ['roleArn', text],
  ['externalId', text],
  ['roleSessionName', text, () => 'ferry'],
  ['roleDurationSeconds', int(900, 43_200), () => 3600],
  ['stsEndpoint', httpUrl],
  ['stsRegion', text],
  ['imdsEndpoint', httpUrl],
  ['imdsV1Fallback', flag, () => false],
  ['multipartCopyThreshold', int(5 * MiB), () => 5 * 1024 ** 3],
  ['multipartCopyPartSize', int(5 * MiB), () => 512 * MiB],
  ['concurrency', int(1, 256), () => 16],
  ['multipartThreshold', int(5 * MiB), () => 16 * MiB],
  ['partSize', int(5 * MiB, 5 * 1024 ** 3), () => 16 * MiB],
  ['partConcurrency', int(1, 64), () => 6],
  ['freshConnectionGets', flag],
];

/** The names of the fields FIELDS knows, in order (the test compares them with the schema's). */
export const plainConnectionFields: readonly string[] = FIELDS.map(([key]) => key);

/**
 * The connection zod would make of `input` — same fields, same order, same defaults, unknown keys
 * dropped — when every field is plainly valid and no rule between fields is broken; otherwise
 * undefined, and the caller asks the schema itself (which then also words the error).
 */
export function plainConnection(input: unknown): S3Connection | undefined {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return undefined;
  const given = input as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [key, check, fallback] of FIELDS) {
    const value = given[key];
    if (value === undefined) {
      if (key === 'bucket') return undefined; // the one required field
      if (fallback) out[key] = fallback();
      else if (key in given) out[key] = undefined;
    } else if (check(value)) {
      out[key] = key === 'metadata' ? { ...(value as object) } : value;
    } else {
      return undefined;
    }
  }
  const c = out as S3Connection;
  return connectionIssues(c).length === 0 ? c : undefined;
}
