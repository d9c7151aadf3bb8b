import { createInterface } from 'node:readline/promises';
import type { Command } from 'commander';
import {
  type BucketInfo,
  bucketInfo,
  bucketNameProblems,
  createBucket,
  listBuckets,
  removeBucket,
  type Setting,
} from '../../s3/buckets.js';
import { StorageError } from '../../storage/errors.js';
import type { CliContext } from '../context.js';
import { openS3Account } from '../s3-target.js';
import { registerVersioning } from './versions.js';

/** `ferry mb`, `ferry rb`, `ferry bucket info` (and the bucket listing behind `ferry ls s3://`). */
export function registerBucket(program: Command, ctx: () => CliContext): void {
  program
    .command('mb')
    .description('make a bucket (names are global on AWS: checked against the naming rules first)')
    .argument('<bucket>', 's3://name')
    .option('--region <region>', 'where the bucket lives (default: the connection region, else us-east-1)')
    .action(async (url: string, opts: { region?: string }) => {
      const c = ctx();
      const a = openS3Account(c, url);
      try {
        const name = needBucket(a.bucket, url);
        const problems = bucketNameProblems(name);
        if (problems.length)
          throw new StorageError(
            'InvalidArgument',
            `"${name}" is not a valid bucket name: it ${problems.join('; it ')}`,
          );
        const region = opts.region ?? a.conn.region ?? process.env.AWS_REGION ?? 'us-east-1';
        await createBucket(a.client, name, region);
        c.out(`made bucket s3://${name} in ${region}`);
      } finally {
        a.client.destroy();
      }
    });
  program
    .command('rb')
    .description('remove a bucket: empty, or with -r everything in it (all versions and unfinished uploads)')
    .argument('<bucket>', 's3://name')
    .option('-r, --recursive', 'first remove every object, old version, delete marker and unfinished upload')
    .option('--yes', 'with -r: do not ask for confirmation (needed without a terminal)')
    .action(async (url: string, opts: { recursive?: boolean; yes?: boolean }) => {
      const c = ctx();
      const a = openS3Account(c, url);
      try {
        const name = needBucket(a.bucket, url);
        if (opts.recursive && !opts.yes) await confirm(name);
        const r = await removeBucket(a.client, name, { recursive: opts.recursive, signal: c.signal });
        c.out(
          `removed bucket s3://${name}${opts.recursive ? ` (${r.objects} object version(s), ${r.uploads} unfinished upload(s))` : ''}`,
        );
      } finally {
        a.client.destroy();
      }
    });
  const bucket = program.command('bucket').description('bucket settings');
  registerVersioning(bucket, ctx);
  bucket
    .command('info')
    .description(
      'region, versioning, acceleration, lifecycle, default encryption, public access block, logging, website',
    )
    .argument('<bucket>', 's3://name')
    .option('--json', 'as JSON')
    .action(async (url: string, opts: { json?: boolean }) => {
      const c = ctx();
      const a = openS3Account(c, url);
      try {
        const info = await bucketInfo(a.client, needBucket(a.bucket, url));
        if (opts.json) c.out(JSON.stringify(info, null, 2));
        else for (const line of infoLines(info)) c.out(line);
      } finally {
        a.client.destroy();
      }
    });
}

/** `ferry ls s3://`: the account's buckets (with -l: creation time and region). */
export async function listBucketsCommand(
  c: CliContext,
  url: string,
  opts: { long?: boolean; json?: boolean },
) {
  const a = openS3Account(c, url);
  try {
    for (const b of await listBuckets(a.client, { regions: opts.long || opts.json })) {
      if (opts.json)
        c.out(JSON.stringify({ name: b.name, created: b.created?.toISOString(), region: b.region }));
      else if (opts.long)
        c.out(
          `${(b.created?.toISOString().replace('T', ' ').slice(0, 19) ?? '-').padEnd(19)}  ${(b.region ?? '-').padEnd(14)}  ${b.name}/`,
        );
      else c.out(`${b.name}/`);
    }
  } finally {
    a.client.destroy();
  }
}

function needBucket(bucket: string | undefined, url: string): string {
  if (!bucket) throw new StorageError('InvalidArgument', `no bucket in ${url} (s3://name)`);
  return bucket;
}

async function confirm(name: string): Promise<void> {
  if (!process.stdin.isTTY)
    throw new StorageError(
      'InvalidArgument',
      `rb -r deletes everything in s3://${name}: add --yes to confirm`,
    );
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await rl.question(
      `rb -r deletes every object and version in s3://${name}. Type the bucket name to go on: `,
    );
    if (answer.trim() !== name)
      throw new StorageError('InvalidArgument', 'not confirmed: nothing was removed');
  } finally {
    rl.close();
  }
}

function infoLines(info: BucketInfo): string[] {
  const show = <T>(s: Setting<T>, f: (v: T) => string) =>
    'value' in s ? f(s.value) : `unknown (${s.unknown})`;
  return [
    `bucket          s3://${info.name}`,
    `region          ${show(info.region, (v) => v)}`,
    `versioning      ${show(info.versioning, (v) => `${v.status}${v.mfaDelete ? `, MFA delete ${v.mfaDelete}` : ''}`)}`,
    `acceleration    ${show(info.acceleration, (v) => v)}`,
    `lifecycle       ${show(info.lifecycleRules, (v) => `${v} rule(s)`)}`,
    `encryption      ${show(info.encryption, (v) => v)}`,
    `public access   ${show(info.publicAccessBlock, (v) => {
      const on = Object.entries(v).filter(([, b]) => b);
      return Object.keys(v).length === 0
        ? 'no block configured'
        : on.length
          ? `blocked: ${on.map(([k]) => k).join(', ')}`
          : 'not blocked';
    })}`,
    `logging         ${show(info.logging, (v) => v)}`,
    `website         ${show(info.website, (v) => v)}`,
  ];
}
