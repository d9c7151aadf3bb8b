import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  DeleteBucketLifecycleCommand,
  GetBucketLifecycleConfigurationCommand,
  type LifecycleRule,
  PutBucketLifecycleConfigurationCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { StorageError } from '../storage/errors.js';
import { translateS3Error } from './errors.js';

/** The ID Ferry gives the rule it adds (so it can find and adjust its own rule later). */
export const FERRY_ABORT_RULE_ID = 'ferry-abort-incomplete-multipart-uploads';

export interface AbortRuleResult {
  /**
   * `present`: an enabled bucket-wide rule already aborts uploads within `days` — nothing changed.
   * `added`: a rule was added beside the existing ones. `updated`: Ferry's own rule got new days.
   * `missing`: (dry run) a rule would be added or updated.
   */
  status: 'present' | 'added' | 'updated' | 'missing';
  /** The days of the rule that applies afterwards (or would, in a dry run). */
  days: number;
  /** All rules of the bucket afterwards (or as they are, in a dry run). */
  rules: LifecycleRule[];
}

/**
 * The bucket's lifecycle rules ([] when it has no lifecycle configuration). A store without
 * lifecycle rules is NotSupported, including one that answers the GET with something else
 * (Swift's s3api sends the bucket listing with 200, which the SDK would read as "no rules").
 */
export async function getLifecycleRules(client: S3Client, bucket: string): Promise<LifecycleRule[]> {
  const command = new GetBucketLifecycleConfigurationCommand({ Bucket: bucket });
  command.middlewareStack.add(requireLifecycleDocument(bucket), {
    step: 'deserialize',
    name: 'ferryRequireLifecycleDocument',
    priority: 'low', // inside the SDK's deserializer: sees the raw body first
  });
  try {
    const res = await client.send(command);
    return res.Rules ?? [];
  } catch (err) {
    if ((err as { name?: string }).name === 'NoSuchLifecycleConfiguration') return [];
    if (unsupported(err)) throw lifecycleUnsupported(bucket, err);
    throw err;
  }
}

/** The answer of a store that has no lifecycle rules, naming what to use instead. */
export function lifecycleUnsupported(bucket: string, cause: unknown, detail?: string): StorageError {
  const why = detail ?? ((cause as { name?: string })?.name || 'refused');
  return new StorageError(
    'NotSupported',
    `s3://${bucket}: the S3 store does not support bucket lifecycle rules (${why}); abort unfinished uploads with \`ferry uploads abort\` instead`,
    { cause },
  );
}

/** Errors by which a store says it has no lifecycle API (Swift: MalformedXML for valid XML). */
function unsupported(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e.name === 'NotImplemented' || e.name === 'MalformedXML' || e.$metadata?.httpStatusCode === 501;
}

/** A 200 whose body is not a <LifecycleConfiguration> document is a store without lifecycle. */
function requireLifecycleDocument(bucket: string) {
  // biome-ignore lint/suspicious/noExplicitAny: the SDK's middleware types are generic over any
  return (next: any) => async (args: any) => {
    const result = await next(args);
    const response = result.response as { statusCode?: number; body?: unknown };
    if (response.statusCode === 200 && response.body instanceof Readable) {
      const chunks: Buffer[] = [];
      for await (const c of response.body) chunks.push(Buffer.from(c));
      const text = Buffer.concat(chunks).toString('utf8');
      if (!/<LifecycleConfiguration[\s>]/.test(text)) {
        const root = /<([A-Za-z]+)[\s>]/.exec(text.replace(/<\?xml[^>]*\?>/, ''))?.[1] ?? 'no XML';
        throw lifecycleUnsupported(
          bucket,
          undefined,
          `GetBucketLifecycleConfiguration answered with <${root}>`,
        );
      }
      response.body = Readable.from([Buffer.from(text, 'utf8')]);
    }
    return result;
  };
}

/** True for an enabled rule that applies to every key (no prefix, no tag or size filter). */
function bucketWide(rule: LifecycleRule): boolean {
  if (rule.Status !== 'Enabled') return false;
  const f = rule.Filter;
  const legacyPrefix = (rule as { Prefix?: string }).Prefix;
  if (legacyPrefix) return false;
  if (!f) return true;
  return (
    !f.Prefix &&
    !f.Tag &&
    !f.And &&
    f.ObjectSizeGreaterThan === undefined &&
    f.ObjectSizeLessThan === undefined
  );
}

/**
 * Make sure unfinished multipart uploads in `bucket` are aborted by S3 after at most `days`
 * days. The bucket's other rules are kept as they are: S3 replaces the whole lifecycle
 * configuration on every PUT, so the current rules are read and written back with ours added
 * (or Ferry's own earlier rule adjusted) — never replaced.
 */
export async function ensureAbortIncompleteRule(
  client: S3Client,
  bucket: string,
  days: number,
  options: { dryRun?: boolean } = {},
): Promise<AbortRuleResult> {
  if (!Number.isInteger(days) || days < 1) throw new RangeError('days must be a whole number ≥ 1');
  const rules = await getLifecycleRules(client, bucket);
  const covering = rules.find(
    (r) =>
      bucketWide(r) &&
      r.AbortIncompleteMultipartUpload?.DaysAfterInitiation !== undefined &&
      r.AbortIncompleteMultipartUpload.DaysAfterInitiation <= days,
  );
  if (covering) {
    return { status: 'present', days: covering.AbortIncompleteMultipartUpload!.DaysAfterInitiation!, rules };
  }
  const ours = rules.find((r) => r.ID === FERRY_ABORT_RULE_ID);
  const rule: LifecycleRule = {
    ID: FERRY_ABORT_RULE_ID,
    Status: 'Enabled',
    Filter: { Prefix: '' },
    AbortIncompleteMultipartUpload: { DaysAfterInitiation: days },
  };
  const next = ours ? rules.map((r) => (r === ours ? rule : r)) : [...rules, rule];
  if (options.dryRun) return { status: 'missing', days, rules };
  await putLifecycleRules(client, bucket, next);
  return { status: ours ? 'updated' : 'added', days, rules: next };
}

/**
 * Replace the bucket's whole lifecycle configuration with `rules` (S3 has no per-rule call);
 * with no rules left, the configuration is deleted (S3 refuses an empty one).
 */
export async function putLifecycleRules(
  client: S3Client,
  bucket: string,
  rules: LifecycleRule[],
): Promise<void> {
  const command = rules.length
    ? new PutBucketLifecycleConfigurationCommand({ Bucket: bucket, LifecycleConfiguration: { Rules: rules } })
    : new DeleteBucketLifecycleCommand({ Bucket: bucket });
  if (command instanceof PutBucketLifecycleConfigurationCommand) addContentMd5(command);
  try {
    await client.send(command as PutBucketLifecycleConfigurationCommand);
  } catch (err) {
    if (unsupported(err)) throw lifecycleUnsupported(bucket, err);
    throw translateS3Error(err, {
      operation: rules.length ? 'PutBucketLifecycleConfiguration' : 'DeleteBucketLifecycle',
      bucket,
    });
  }
}

/** One line saying what a rule does: `id [disabled] prefix=… tag k=v: → STANDARD_IA after 30 d; expire after 365 d`. */
export function describeRule(r: LifecycleRule): string {
  const f = r.Filter;
  const legacyPrefix = (r as { Prefix?: string }).Prefix;
  const scope = [
    (f?.Prefix ?? f?.And?.Prefix ?? legacyPrefix)
      ? `prefix=${f?.Prefix ?? f?.And?.Prefix ?? legacyPrefix}`
      : '',
    ...(f?.Tag ? [f.Tag] : (f?.And?.Tags ?? [])).map((t) => `tag ${t.Key}=${t.Value}`),
  ].filter(Boolean);
  const actions = [
    ...(r.Transitions ?? []).map(
      (t) => `→ ${t.StorageClass} after ${t.Days ?? t.Date?.toISOString().slice(0, 10)} d`,
    ),
    ...(r.NoncurrentVersionTransitions ?? []).map(
      (t) => `old versions → ${t.StorageClass} after ${t.NoncurrentDays} d`,
    ),
    r.Expiration?.Days ? `expire after ${r.Expiration.Days} d` : '',
    r.Expiration?.Date ? `expire on ${r.Expiration.Date.toISOString().slice(0, 10)}` : '',
    r.Expiration?.ExpiredObjectDeleteMarker ? 'remove expired delete markers' : '',
    r.NoncurrentVersionExpiration?.NoncurrentDays
      ? `old versions expire after ${r.NoncurrentVersionExpiration.NoncurrentDays} d`
      : '',
    r.AbortIncompleteMultipartUpload?.DaysAfterInitiation
      ? `abort unfinished uploads after ${r.AbortIncompleteMultipartUpload.DaysAfterInitiation} d`
      : '',
  ].filter(Boolean);
  return `${r.ID ?? '(no id)'}${r.Status === 'Enabled' ? '' : ' [disabled]'} ${scope.length ? scope.join(' ') : 'whole bucket'}: ${actions.join('; ') || 'no action'}`;
}

/**
 * S3 requires an integrity header on PutBucketLifecycleConfiguration; stores that ignore the
 * SDK's x-amz-checksum-* headers (RGW, Swift) check Content-MD5, so it is always sent.
 */
function addContentMd5(command: PutBucketLifecycleConfigurationCommand): void {
  command.middlewareStack.add(
    (next) => async (args) => {
      const request = args.request as { headers?: Record<string, string>; body?: unknown };
      if (request.headers && typeof request.body === 'string') {
        request.headers['content-md5'] = createHash('md5').update(request.body).digest('base64');
      }
      return next(args);
    },
    { step: 'build', name: 'ferryLifecycleContentMd5', priority: 'low' },
  );
}
