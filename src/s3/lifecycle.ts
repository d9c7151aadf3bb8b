import { createHash } from 'node:crypto';
import {
  GetBucketLifecycleConfigurationCommand,
  type LifecycleRule,
  PutBucketLifecycleConfigurationCommand,
  type S3Client,
} from '@aws-sdk/client-s3';

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

/** The bucket's lifecycle rules ([] when it has no lifecycle configuration). */
export async function getLifecycleRules(client: S3Client, bucket: string): Promise<LifecycleRule[]> {
  try {
    const res = await client.send(new GetBucketLifecycleConfigurationCommand({ Bucket: bucket }));
    return res.Rules ?? [];
  } catch (err) {
    if ((err as { name?: string }).name === 'NoSuchLifecycleConfiguration') return [];
    throw err;
  }
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
  const command = new PutBucketLifecycleConfigurationCommand({
    Bucket: bucket,
    LifecycleConfiguration: { Rules: next },
  });
  addContentMd5(command);
  await client.send(command);
  return { status: ours ? 'updated' : 'added', days, rules: next };
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
