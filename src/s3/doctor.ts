import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { HeadBucketCommand } from '@aws-sdk/client-s3';
import { createS3Client } from './client.js';
import { isAwsEndpoint, type S3Connection } from './connection.js';
import { type CredentialOptions, credentialsFor } from './credentials/chain.js';
import { maskKey } from './credentials/static.js';
import { type CallerIdentity, getCallerIdentity } from './credentials/sts.js';
import { classifyAccess, noteFailure, policyFor } from './doctor-findings.js';
import { BucketProbes, type Check, classify, type Seen, skipped, watchResponses } from './doctor-probes.js';
import { objectParamsFor } from './object-params.js';
import { bypassesProxy, displayProxy, proxyConfig } from './proxy.js';

export { doctorExitCode, policyFor } from './doctor-findings.js';

/**
 * Does the other addressing style answer too? One HeadBucket with a short time-out: virtual-host
 * needs `bucket.host` to resolve (wildcard DNS), which custom endpoints often lack.
 */
async function otherAddressing(
  conn: S3Connection,
  env: NodeJS.ProcessEnv,
  credentials: ReturnType<typeof credentialsFor>,
  pathStyle: boolean,
): Promise<NonNullable<DoctorReport['addressing']['other']>> {
  const style = pathStyle ? 'path' : 'virtual-host';
  const host = conn.endpoint ? new URL(conn.endpoint).hostname.replace(/^\[|\]$/g, '') : '';
  if (!pathStyle && isIP(host)) {
    // The SDK quietly falls back to path-style for IP endpoints; there is no bucket.host to try.
    return {
      style,
      works: false,
      detail: 'the endpoint is an IP address; virtual-host addressing needs a DNS name',
    };
  }
  const client = createS3Client({ ...conn, pathStyle }, env, { credentials, warn: () => {} });
  try {
    await client.send(new HeadBucketCommand({ Bucket: conn.bucket }), {
      abortSignal: AbortSignal.timeout(3000),
    });
    return { style, works: true };
  } catch (err) {
    const c = classify(err);
    // A refusal still proves the store understood the address.
    if (c.kind === 'denied') return { style, works: true, detail: c.detail };
    const code = (err as { code?: string }).code;
    return { style, works: false, detail: code ? `${code}` : c.detail };
  } finally {
    client.destroy();
  }
}

/** What a connection can do, in the words a user of a drop box would use. */
export type AccessLevel =
  | 'full'
  | 'read-only'
  | 'append-only'
  | 'write-only'
  | 'list-only'
  | 'no-access'
  | 'unknown';

export interface DoctorReport {
  target: string;
  endpoint: string;
  /** The HTTP(S) proxy S3 requests go through (never its password), or why none. */
  proxy: string;
  credentials: { source?: string; detail?: string; accessKey?: string; expiration?: string; error?: string };
  identity?: CallerIdentity & { error?: string };
  region: { configured: string; reported?: string; note?: string };
  addressing: {
    used: 'path' | 'virtual-host';
    works: boolean;
    other?: { style: 'path' | 'virtual-host'; works: boolean; detail?: string };
  };
  checks: Check[];
  access: AccessLevel;
  accessNote: string;
  store: {
    listObjectsV2?: boolean;
    versioning?: string;
    checksumTrailers?: boolean;
    multipartCopy?: boolean;
    clockSkewSeconds?: number;
  };
  problems: string[];
  recommendations: string[];
  /** IAM actions refused, and a minimal policy that grants them on this bucket and prefix. */
  refused: string[];
  policy?: Record<string, unknown>;
}

export interface DoctorOptions extends CredentialOptions {
  /** Also try the other addressing style (a DNS lookup for virtual-host on custom endpoints). */
  tryOtherAddressing?: boolean;
}

const SKEW_LIMIT_S = 300;

/** Which proxy the endpoint's requests use, said without the proxy's password. */
function proxyInUse(conn: S3Connection, env: NodeJS.ProcessEnv, region: string): string {
  const endpoint = new URL(conn.endpoint ?? `https://s3.${region}.amazonaws.com`);
  const proxies = proxyConfig(conn, env);
  const proxy = endpoint.protocol === 'https:' ? proxies.https : proxies.http;
  if (!proxy) return 'none';
  const port = endpoint.port || (endpoint.protocol === 'https:' ? 443 : 80);
  if (bypassesProxy(endpoint.hostname, port, proxies.noProxy))
    return `none: NO_PROXY matches ${endpoint.hostname} (${displayProxy(proxy)} from ${proxies.source} is not used)`;
  const how = endpoint.protocol === 'https:' ? 'CONNECT tunnel' : 'forward proxy';
  return `${displayProxy(proxy)} (${how}, from ${proxies.source})`;
}

/**
 * Check a connection end to end and say what works, what is refused and why, and what to set.
 * Never throws for what it finds (refusals, missing features, traps are findings); throws only
 * for a connection that cannot be built at all. Leaves nothing behind when it may delete: the
 * test object and the multipart upload are removed (an append-only user keeps one tiny object,
 * reported as such).
 */
export async function runDoctor(
  conn: S3Connection,
  env: NodeJS.ProcessEnv = process.env,
  options: DoctorOptions = {},
): Promise<DoctorReport> {
  const creds = credentialsFor(conn, env, options);
  const aws = isAwsEndpoint(conn.endpoint);
  const pathStyle = conn.pathStyle ?? !aws;
  const region = conn.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? 'us-east-1';
  const prefix = conn.prefix ? `${conn.prefix.replace(/\/+$/, '')}/` : '';
  const report: DoctorReport = {
    target: `s3://${conn.bucket}/${prefix}`,
    endpoint: conn.endpoint ?? `AWS (${region})`,
    proxy: proxyInUse(conn, env, region),
    credentials: {},
    region: { configured: region },
    addressing: { used: pathStyle ? 'path' : 'virtual-host', works: false },
    checks: [],
    access: 'unknown',
    accessNote: '',
    store: {},
    problems: [],
    recommendations: [],
    refused: [],
  };

  // 1. Credentials: which source answers, and until when.
  if (creds.provider) {
    try {
      const c = await creds.provider();
      const src = creds.source();
      report.credentials = {
        source: src?.name,
        detail: src?.detail,
        accessKey: maskKey(c.accessKeyId),
        expiration: c.expiration?.toISOString(),
      };
    } catch (err) {
      report.credentials = { source: creds.describe, error: (err as Error).message };
      report.problems.push(`credentials: ${(err as Error).message}`);
      report.access = 'no-access';
      report.accessNote = 'no credentials: nothing else can be checked';
      return report;
    }
    // 2. Identity, where the store has STS GetCallerIdentity.
    try {
      report.identity = await getCallerIdentity(creds.identitySts, creds.provider);
    } catch (err) {
      report.identity = {
        error: `not available (STS GetCallerIdentity at ${creds.identitySts.endpoint ?? 'AWS'}: ${identityWhy((err as Error).message)})`,
      };
    }
  } else {
    report.credentials = { source: 'anonymous', detail: 'unsigned requests' };
  }

  const seen: Seen = {};
  const client = createS3Client(conn, env, { credentials: creds, warn: () => {} });
  watchResponses(client, seen);
  const p = new BucketProbes(client, conn.bucket, objectParamsFor(conn));
  const add = (c: Check) => {
    report.checks.push(c);
    return c;
  };
  try {
    // 3. The bucket and its region.
    const head = await p.headBucket();
    add(head.check);
    const loc = await p.location();
    add(loc.check);
    const reported =
      (head.value as { BucketRegion?: string } | undefined)?.BucketRegion ?? seen.bucketRegion ?? loc.value;
    if (reported) {
      report.region.reported = reported;
      const realRegion = /^[a-z]{2}(-[a-z]+)+-\d+$/.test(reported);
      if (realRegion && reported !== region) {
        report.problems.push(
          `wrong region: the bucket is in ${reported}, the connection says ${region} (every call costs a redirect, and some stores refuse it)`,
        );
        report.recommendations.push(`--region ${reported}`);
      } else if (!realRegion) {
        report.region.note = `the store names its zone group "${reported}", not an AWS region; the configured ${region} is used for signing`;
      }
    }
    noteFailure(report, head.error, region, conn);

    // 4. Listing: V2, else v1.
    const v2 = await p.listV2(prefix);
    add(v2.check);
    report.store.listObjectsV2 =
      v2.check.status === 'ok' ? true : v2.check.status === 'unsupported' ? false : undefined;
    let canList = v2.check.status === 'ok';
    if (v2.check.status === 'unsupported' || (v2.check.status === 'failed' && conn.listVersion === 1)) {
      const v1 = await p.listV1(prefix);
      add(v1.check);
      canList = v1.check.status === 'ok';
      if (canList) report.recommendations.push('--list-v1 (this store has no ListObjectsV2)');
    }
    noteFailure(report, v2.error, region, conn);
    report.addressing.works = canList || head.check.status === 'ok' || v2.check.status === 'denied';
    if (options.tryOtherAddressing !== false)
      report.addressing.other = await otherAddressing(conn, env, creds, !pathStyle);

    // 5. Write, read back, delete — as a data-sync destination's connection test does.
    const key = `${prefix}.ferry-doctor-${randomBytes(6).toString('hex')}`;
    const body = Buffer.from(`ferry doctor ${new Date().toISOString()}\n`);
    const put = await p.put(key, body);
    add(put.check);
    const canWrite = put.check.status === 'ok';
    let canRead: boolean | undefined;
    /** Reads judged from a missing key's 404 on a store where that is not proof (readMissing). */
    let readGuessed = false;
    if (canWrite) {
      const got = await p.read(key);
      add(got.check);
      canRead = got.check.status === 'ok';
      if (canRead && !got.value?.equals(body)) {
        got.check.status = 'failed';
        got.check.detail = 'the object read back differs from what was written';
        report.problems.push(
          'data read back differs from what was written: the store or a proxy alters objects',
        );
      }
    } else {
      const sample = (v2.value?.Contents ?? []).find((o) => o.Key && !o.Key.endsWith('/'))?.Key;
      if (sample) {
        const got = await p.read(sample, `read an existing object (${sample})`);
        add(got.check);
        canRead = got.check.status === 'ok';
      } else {
        // Nothing to read: a GET of a missing key still tells whether reads are allowed.
        const got = await p.readMissing(`${key}.missing`, aws);
        add(got.check);
        canRead = got.check.status === 'ok';
        readGuessed = canRead && !got.proven;
      }
    }

    // Encryption asked for must be what the store did: some stores accept the header and ignore it.
    if (canWrite && (conn.sse || conn.sseCustomerKey)) {
      const h = await p.headObject(key);
      add(h.check);
      const got = conn.sse ? h.value?.ServerSideEncryption : h.value?.SSECustomerAlgorithm;
      if (h.value && !got) {
        h.check.status = 'unsupported';
        h.check.detail = `the store accepted ${conn.sse ? `--sse ${conn.sse}` : 'SSE-C'} but does not report the object as encrypted`;
        report.problems.push(
          `encryption ignored: the store accepted ${conn.sse ? `x-amz-server-side-encryption: ${conn.sse}` : 'the SSE-C headers'} without error but HEAD shows no encryption — do not rely on it; use bucket default encryption or SSE-C`,
        );
      }
    }

    // 6. Multipart: create, copy a part from the test object, list, abort.
    const mpKey = `${key}.mp`;
    const mp = await p.createMultipart(mpKey);
    add(mp.check);
    if (mp.value) {
      if (canWrite && canRead) {
        const pc = await p.partCopy(mpKey, mp.value, key);
        add(pc.check);
        report.store.multipartCopy =
          pc.check.status === 'ok' ? true : pc.check.status === 'unsupported' ? false : undefined;
        if (pc.check.status === 'denied') {
          report.problems.push(
            'UploadPartCopy was refused although PutObject and GetObject on the same keys work (seen on Ceph RGW 16 with STS role sessions): copies and renames above --multipart-copy-threshold will fail with these credentials',
          );
        }
        if (report.store.multipartCopy === false)
          report.recommendations.push(
            '--multipart-copy-threshold 5GiB (no UploadPartCopy: large renames cannot be server-side)',
          );
      }
      const lu = await p.listUploads(prefix);
      add(lu.check);
      if (lu.check.status === 'ok' && !lu.value?.Uploads?.some((u) => u.UploadId === mp.value)) {
        lu.check.detail = 'the new upload was not listed';
      }
      const ab = await p.abort(mpKey, mp.value);
      add(ab.check);
      if (ab.check.status !== 'ok')
        report.problems.push(
          `an incomplete multipart upload was left at ${mpKey} (AbortMultipartUpload refused): remove it with an admin key or a lifecycle rule`,
        );
    } else {
      const lu = await p.listUploads(prefix);
      add(lu.check);
    }

    // 7. Checksum trailers: an upload the way the SDK does it by default against AWS.
    if (canWrite) {
      // The SDK's default for AWS: a streamed body goes aws-chunked with a CRC32 trailer.
      const trailerClient = createS3Client(conn, env, { credentials: creds, warn: () => {} });
      trailerClient.config.requestChecksumCalculation = async () => 'WHEN_SUPPORTED';
      // The SDK warns on the console when a streamed request fails; here failure is a finding.
      trailerClient.config.logger = { debug() {}, info() {}, warn() {}, error() {} };
      const tk = `${key}.crc`;
      const tr = await p.put(
        tk,
        body,
        trailerClient,
        'upload with checksum trailer (aws-chunked, CRC32)',
        true,
      );
      trailerClient.destroy();
      add(tr.check);
      report.store.checksumTrailers = tr.check.status === 'ok';
      if (tr.check.status !== 'ok') {
        tr.check.status = 'unsupported';
        if (aws) report.problems.push('AWS refused a checksum trailer upload: a proxy in between?');
      }
      if (tr.check.status === 'ok') await p.remove(tk, 'delete checksum test object');
    }

    // 8. Delete the test object.
    if (canWrite) add((await p.remove(key)).check);
    else add(skipped('delete', 'DeleteObject', 'nothing was written'));
    const canDelete = report.checks.find((c) => c.operation === 'DeleteObject')?.status === 'ok';

    // 9. Versioning.
    const ver = await p.versioning();
    add(ver.check);
    if (ver.value) report.store.versioning = ver.value;
    if (ver.value === 'Enabled')
      report.recommendations.push(
        'versioning is on: deletes and overwrites keep old versions (set a lifecycle rule for noncurrent versions)',
      );

    // 10. Clock.
    if (seen.serverDate && !Number.isNaN(seen.serverDate.getTime())) {
      const skew = Math.round((Date.now() - seen.serverDate.getTime()) / 1000);
      report.store.clockSkewSeconds = skew;
      if (Math.abs(skew) > SKEW_LIMIT_S)
        report.problems.push(
          `clock skew: this machine is ${skew} s ${skew > 0 ? 'ahead of' : 'behind'} the S3 store; signatures older than 15 min are refused — fix the clock (NTP)`,
        );
    }

    classifyAccess(report, { canList, canRead, canWrite, canDelete });
    if (readGuessed)
      report.accessNote +=
        ' — reading judged from a GET of a missing key (nothing to read here), not proven on this store';
  } finally {
    client.destroy();
  }

  for (const c of report.checks)
    if (c.status === 'denied' && !report.refused.includes(c.action)) report.refused.push(c.action);
  if (report.refused.length) report.policy = policyFor(conn.bucket, prefix, report.refused);
  if (
    report.checks.find((c) => c.operation === 'HeadBucket')?.status === 'denied' &&
    report.access !== 'no-access'
  ) {
    report.recommendations.push('--skip-bucket-check (these credentials may not HEAD the bucket)');
  }
  if (!aws && report.store.checksumTrailers === false)
    report.recommendations.push(
      'request checksums WHEN_REQUIRED (Ferry does this for non-AWS endpoints already)',
    );
  if (pathStyle && !aws) report.recommendations.push('--path-style (the default for custom endpoints)');
  return report;
}

/** Why GetCallerIdentity failed, in a few words (stores without it answer with an unnamed error). */
function identityWhy(message: string): string {
  const m = message.replace(/^GetCallerIdentity at \S+ (failed: |was refused: )?/, '');
  return /^Unknown(Error)?: Unknown(Error)?$/.test(m) ? 'the store does not implement it' : m;
}
