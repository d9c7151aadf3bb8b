import type { S3Connection } from './connection.js';
import type { DoctorReport } from './doctor.js';
import { classify } from './doctor-probes.js';

// What doctor concludes from its checks: traps, the access level, the policy to grant, the exit code.

/** The classic traps, told apart from a plain refusal: wrong region, not S3, clock, unreachable. */
export function noteFailure(report: DoctorReport, err: unknown, region: string, conn: S3Connection): void {
  if (!err) return;
  const c = classify(err);
  const e = err as { code?: string; $response?: { headers?: Record<string, string> } };
  const msg = String((err as Error).message ?? '');
  const push = (m: string) => {
    if (!report.problems.includes(m)) report.problems.push(m);
  };
  if (c.name === 'RequestTimeTooSkewed')
    push("clock skew: the S3 store refused this machine's time — fix the clock (NTP)");
  else if (
    /PermanentRedirect|AuthorizationHeaderMalformed|IllegalLocationConstraint/.test(c.name) ||
    c.status === 301
  )
    push(
      `wrong region: the store refused region ${region} for bucket ${conn.bucket} (${c.name}); set --region to the bucket's region`,
    );
  else if (c.name === 'NoSuchBucket') push(`no such bucket: ${conn.bucket}`);
  else if (c.name === 'InvalidAccessKeyId') push('the store does not know this access key');
  else if (c.name === 'SignatureDoesNotMatch') push('wrong secret key (SignatureDoesNotMatch)');
  else if (
    /ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|EHOSTUNREACH|ECONNRESET/.test(
      `${e.code ?? ''} ${msg} ${String((err as Error).cause ?? '')}`,
    )
  )
    push(`endpoint ${conn.endpoint ?? 'AWS'} unreachable: ${c.detail}`);
  else if (
    /Deserialization|Unexpected|char|XML|not well-formed/i.test(msg) ||
    (c.kind === 'failed' &&
      c.status !== undefined &&
      c.status < 500 &&
      !/xml/i.test(String(e.$response?.headers?.['content-type'] ?? 'xml')))
  ) {
    push(
      `endpoint ${conn.endpoint ?? 'AWS'} does not answer like S3 (${c.detail}): is it the S3 API port and not a web console?`,
    );
  }
}

export function classifyAccess(
  report: DoctorReport,
  a: { canList: boolean; canRead?: boolean; canWrite: boolean; canDelete: boolean },
): void {
  const { canList, canRead, canWrite, canDelete } = a;
  if (canWrite && canDelete && (canRead ?? false) && canList) {
    report.access = 'full';
    const refusedOps = report.checks.filter((c) => c.status === 'denied').map((c) => c.operation);
    report.accessNote = refusedOps.length
      ? `list, write, read back and delete work (refused: ${refusedOps.join(', ')})`
      : 'list, write, read back, delete and multipart all work';
  } else if (canWrite && !canDelete && canRead) {
    report.access = 'append-only';
    report.accessNote = `objects can be written${canList ? ', listed' : ''} and read but not deleted — usable as a destination that keeps everything (not broken); one test object is left behind`;
  } else if (canWrite && !canRead) {
    report.access = canDelete ? 'write-only' : 'append-only';
    report.accessNote = `objects can be written${canDelete ? ' and deleted' : ''} but not read back (a drop box; not broken)${canDelete ? '' : '; one test object is left behind'}`;
  } else if (!canWrite && (canRead || canList)) {
    report.access = canRead ? 'read-only' : 'list-only';
    report.accessNote = canRead
      ? 'listing and reading work, writing is refused (not broken)'
      : 'listing works, reading and writing are refused';
  } else if (!canWrite && !canList && !canRead) {
    report.access = 'no-access';
    report.accessNote = 'every call was refused or failed';
  } else {
    report.accessNote = 'partial access: see the checks';
  }
  if (
    report.access === 'append-only' &&
    report.checks.some((c) => c.operation === 'DeleteObject' && c.status === 'denied')
  ) {
    report.recommendations.push('use it as an append-only destination (sync without deletes)');
  }
  if (report.access === 'read-only') report.recommendations.push('mount it read-only');
}

const BUCKET_ACTIONS = new Set([
  's3:ListBucket',
  's3:ListBucketMultipartUploads',
  's3:GetBucketLocation',
  's3:GetBucketVersioning',
  's3:ListBucketVersions',
]);

/** A minimal IAM policy granting `actions` on this bucket and prefix (bucket- vs object-level). */
export function policyFor(bucket: string, prefix: string, actions: string[]): Record<string, unknown> {
  const flat = [...new Set(actions.flatMap((a) => a.match(/s3:[A-Za-z]+/g) ?? []))].sort();
  const bucketLevel = flat.filter((a) => BUCKET_ACTIONS.has(a));
  const objectLevel = flat.filter((a) => !BUCKET_ACTIONS.has(a));
  const statements: Record<string, unknown>[] = [];
  // A prefix condition applies only to ListBucket (other bucket-level calls carry no s3:prefix,
  // so a condition on them would never match): it gets a statement of its own.
  const listWithPrefix = Boolean(prefix) && bucketLevel.includes('s3:ListBucket');
  const others = listWithPrefix ? bucketLevel.filter((a) => a !== 's3:ListBucket') : bucketLevel;
  if (others.length) statements.push({ Effect: 'Allow', Action: others, Resource: `arn:aws:s3:::${bucket}` });
  if (listWithPrefix) {
    statements.push({
      Effect: 'Allow',
      Action: ['s3:ListBucket'],
      Resource: `arn:aws:s3:::${bucket}`,
      Condition: { StringLike: { 's3:prefix': [`${prefix}*`, prefix] } },
    });
  }
  if (objectLevel.length)
    statements.push({ Effect: 'Allow', Action: objectLevel, Resource: `arn:aws:s3:::${bucket}/${prefix}*` });
  return { Version: '2012-10-17', Statement: statements };
}

export function doctorExitCode(report: DoctorReport): number {
  if (report.credentials.error) return 4;
  if (report.problems.some((p) => p.includes('unreachable'))) return 6;
  return report.access === 'no-access' || report.access === 'unknown' ? 4 : 0;
}
