import type { S3Client } from '@aws-sdk/client-s3';
import { createS3Client } from '../s3/client.js';
import { connectionFromUrl, type S3Connection } from '../s3/connection.js';
import { translateS3Error } from '../s3/errors.js';
import { isS3Url, parseS3Url, redactText } from '../s3/url.js';
import { StorageError } from '../storage/errors.js';
import type { CliContext } from './context.js';

/** A bucket-level S3 target named on the command line (for commands below the file system). */
export interface S3Target {
  client: S3Client;
  conn: S3Connection;
  bucket: string;
  /** The key (or key prefix) the URL names inside the bucket ('' for the whole bucket). */
  key: string;
  /** Run one S3 call, turning its error into a StorageError naming the operation and IAM action. */
  call<T>(operation: string, fn: () => Promise<T>): Promise<T>;
  close(): void;
}

/** The S3 target of `url`, with the same settings (flags over `--connection NAME`) as file commands. */
export function openS3Target(ctx: CliContext, url: string): S3Target {
  if (!isS3Url(url)) throw new StorageError('InvalidArgument', `needs an s3:// URL, got: ${redactText(url)}`);
  const loc = parseS3Url(url);
  const conn = connectionFromUrl(url, { ...ctx.locations.s3Settings(), prefix: '' });
  const client = createS3Client(conn);
  return {
    client,
    conn,
    bucket: conn.bucket,
    key: loc.key,
    call: async (operation, fn) => {
      try {
        return await fn();
      } catch (err) {
        throw translateS3Error(err, { operation, bucket: conn.bucket, key: loc.key || undefined });
      }
    },
    close: () => client.destroy(),
  };
}

/**
 * The account behind an S3 URL, and the bucket it names if any (`s3://`, `s3://name`,
 * `s3+http://KEY:SECRET@host/name`): for bucket-level commands (list, create, remove buckets).
 * The bucket name is returned as written, unchecked (`mb` explains what is wrong with it). The
 * connection schema needs a bucket, so a placeholder stands in; every call made with this client
 * names its own bucket.
 */
export function openS3Account(
  ctx: CliContext,
  url: string,
): { client: S3Client; conn: S3Connection; bucket?: string } {
  const { account, bucket } = splitAccountUrl(url);
  const conn = connectionFromUrl(`${account}${NO_BUCKET}`, { ...ctx.locations.s3Settings(), prefix: '' });
  return { client: createS3Client(conn), conn, bucket };
}

/**
 * `s3+http://K:S@host/name/key` → account `s3+http://K:S@host/`, bucket `name`; `s3://name` →
 * `s3://`, `name`; `s3://` → no bucket. As parseS3Url: keys in the URL, or an s3+http(s) scheme,
 * make the first segment the host.
 */
export function splitAccountUrl(url: string): { account: string; bucket?: string } {
  const m = /^(s3(\+https?)?:\/\/)(.*)$/is.exec(url);
  if (!m) throw new StorageError('InvalidArgument', `needs an s3:// URL, got: ${redactText(url)}`);
  let account = m[1]!;
  let rest = m[3]!;
  // Keys first: the secret may hold a raw `/` (parseS3Url accepts it), never an `@`.
  const at = rest.indexOf('@');
  const keys = at >= 0 && /^[^/:]+:/.test(rest.slice(0, at));
  if (keys) {
    account += rest.slice(0, at + 1);
    rest = rest.slice(at + 1);
  }
  if (keys || m[2]) {
    const slash = rest.indexOf('/');
    account += `${slash < 0 ? rest : rest.slice(0, slash)}/`;
    rest = slash < 0 ? '' : rest.slice(slash + 1);
  }
  const bucket = rest.split('/')[0];
  // `s3:///b/key`: a path with no bucket before it — not "the account" (which would list buckets).
  if (!bucket && /[^/]/.test(rest))
    throw new StorageError('InvalidArgument', `no bucket in ${redactText(url)} (one "/" too many?)`);
  return { account, bucket: bucket || undefined };
}

/** The bucket name standing in where the account, not a bucket, is meant. */
const NO_BUCKET = 'ferry-account-level';

/** `7d`, `12h`, `30m`, `45s`, `2w` (or plain seconds) → milliseconds. */
export function parseDuration(s: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$/i.exec(s);
  if (!m) throw new StorageError('InvalidArgument', `not a duration (like 7d, 12h, 30m): ${s}`);
  const unit = { '': 1, s: 1, m: 60, h: 3600, d: 86400, w: 604800 }[m[2]!.toLowerCase()]!;
  return Number(m[1]) * unit * 1000;
}
