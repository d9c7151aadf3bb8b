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

/** `7d`, `12h`, `30m`, `45s`, `2w` (or plain seconds) → milliseconds. */
export function parseDuration(s: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$/i.exec(s);
  if (!m) throw new StorageError('InvalidArgument', `not a duration (like 7d, 12h, 30m): ${s}`);
  const unit = { '': 1, s: 1, m: 60, h: 3600, d: 86400, w: 604800 }[m[2]!.toLowerCase()]!;
  return Number(m[1]) * unit * 1000;
}
