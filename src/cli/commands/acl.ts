import type { Command } from 'commander';
import { type AclTarget, getAcl, parseGrant, setCannedAcl, setGrants } from '../../s3/acl.js';
import { objectParamsFor } from '../../s3/object-params.js';
import { StorageError } from '../../storage/errors.js';
import type { CliContext } from '../context.js';
import { openS3Target } from '../s3-target.js';

/** `ferry acl LOC` and `ferry acl set LOC --canned …|--grant …` on an object or a bucket (s3://b). */
export function registerAcl(program: Command, ctx: () => CliContext): void {
  const acl = program.command('acl').description('access control lists of S3 objects and buckets');
  acl
    .command('show', { isDefault: true })
    .description('owner and grants (the default: `ferry acl LOC`)')
    .argument('<location>', 's3://bucket/key, or s3://bucket for the bucket')
    .option('--json', 'as JSON')
    .action(async (url: string, opts: { json?: boolean }) => {
      await withAcl(ctx(), url, async (c, t) => {
        const a = await getAcl(t);
        if (opts.json) {
          c.out(JSON.stringify(a, null, 2));
          return;
        }
        c.out(`owner  ${a.owner?.displayName ?? ''} (id:${a.owner?.id ?? '?'})`);
        for (const g of a.grants)
          c.out(`${g.permission.padEnd(13)} ${g.grantee}${g.displayName ? ` (${g.displayName})` : ''}`);
      });
    });
  acl
    .command('set')
    .description('replace the ACL: a canned one, or the given grants (the owner keeps ownership)')
    .argument('<location>', 's3://bucket/key, or s3://bucket')
    .option(
      '--canned <acl>',
      'private, public-read, public-read-write, authenticated-read, bucket-owner-full-control, …',
    )
    .option(
      '--grant <permission=grantee>',
      'read|write|read-acp|write-acp|full-control = id:CANONICAL_ID | email:ADDRESS | group:all-users|authenticated-users|log-delivery (repeatable)',
      (v: string, all: string[] = []) => [...all, v],
    )
    .action(async (url: string, opts: { canned?: string; grant?: string[] }) => {
      if (Boolean(opts.canned) === Boolean(opts.grant?.length))
        throw new StorageError('InvalidArgument', 'give either --canned or one or more --grant');
      const grants = (opts.grant ?? []).map(parseGrant); // every grant checked before anything changes
      await withAcl(ctx(), url, async (_c, t) => {
        if (opts.canned) await setCannedAcl(t, opts.canned);
        else await setGrants(t, grants);
      });
    });
}

async function withAcl(c: CliContext, url: string, fn: (c: CliContext, t: AclTarget) => Promise<void>) {
  const t = openS3Target(c, url);
  try {
    const payer = objectParamsFor(t.conn).payer.RequestPayer;
    await fn(c, { client: t.client, bucket: t.bucket, key: t.key || undefined, requestPayer: payer });
  } finally {
    t.close();
  }
}
