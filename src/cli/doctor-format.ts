import type { DoctorReport } from '../s3/doctor.js';

const MARK: Record<string, string> = {
  ok: 'ok',
  denied: 'DENIED',
  unsupported: 'unsupported',
  failed: 'FAILED',
  skipped: 'skipped',
};

/** `ferry doctor`'s report as text: one fact per line, refusals with the IAM action to grant. */
export function formatDoctor(r: DoctorReport): string[] {
  const out: string[] = [];
  const row = (label: string, value: string) => out.push(`${label.padEnd(13)} ${value}`);
  row('target', `${r.target}  at ${r.endpoint}`);
  row('proxy', r.proxy);
  const c = r.credentials;
  if (c.error) row('credentials', `${c.source}: ERROR ${c.error}`);
  else
    row(
      'credentials',
      `${c.source}${c.detail ? ` — ${c.detail}` : ''}${c.accessKey && !c.detail?.includes(c.accessKey) ? `; key ${c.accessKey}` : ''}; ${c.expiration ? `expires ${c.expiration}` : 'no expiry'}`,
    );
  if (r.identity)
    row(
      'identity',
      r.identity.error ??
        `${r.identity.arn} (account ${r.identity.account || '-'}, user id ${r.identity.userId})`,
    );
  row(
    'region',
    `${r.region.configured} (configured)${r.region.reported ? `; bucket reports ${r.region.reported}` : ''}${r.region.note ? ` — ${r.region.note}` : ''}`,
  );
  const other = r.addressing.other;
  row(
    'addressing',
    `${r.addressing.used}-style ${r.addressing.works ? 'works' : 'did not answer'}${other ? `; ${other.style}-style ${other.works ? 'works too' : `does not (${other.detail})`}` : ''}`,
  );
  if (r.checks.length) {
    out.push('checks');
    for (const k of r.checks) {
      out.push(
        `  ${MARK[k.status]!.padEnd(11)} ${k.name.padEnd(46)} ${k.operation.padEnd(22)} ${k.action}${k.detail && k.status !== 'ok' ? `  — ${k.detail}` : k.detail ? `  (${k.detail})` : ''}`,
      );
    }
  }
  row('access', `${r.access.toUpperCase()} — ${r.accessNote}`);
  const s = r.store;
  const yn = (v: boolean | undefined) => (v === undefined ? 'unknown' : v ? 'yes' : 'no');
  row(
    'store',
    `ListObjectsV2 ${yn(s.listObjectsV2)} · versioning ${s.versioning ?? 'unknown'} · checksum trailers ${yn(s.checksumTrailers)} · multipart copy ${yn(s.multipartCopy)}${s.clockSkewSeconds !== undefined ? ` · clock skew ${s.clockSkewSeconds} s` : ''}`,
  );
  if (r.problems.length) for (const [i, p] of r.problems.entries()) row(i === 0 ? 'problems' : '', p);
  else row('problems', 'none');
  for (const [i, rec] of r.recommendations.entries()) row(i === 0 ? 'recommended' : '', rec);
  if (r.refused.length) {
    out.push(`refused       ${r.refused.join(', ')}`);
    out.push('policy granting them:');
    out.push(
      ...JSON.stringify(r.policy, null, 2)
        .split('\n')
        .map((l) => `  ${l}`),
    );
  }
  return out;
}
