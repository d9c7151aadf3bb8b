import type { LifecycleRule, TransitionStorageClass } from '@aws-sdk/client-s3';
import type { Command } from 'commander';
import {
  describeRule,
  ensureAbortIncompleteRule,
  getLifecycleRules,
  putLifecycleRules,
} from '../../s3/lifecycle.js';
import { StorageError } from '../../storage/errors.js';
import type { CliContext } from '../context.js';
import { openS3Target } from '../s3-target.js';

/** `ferry lifecycle …`: bucket lifecycle rules Ferry cares about. */
export function registerLifecycle(program: Command, ctx: () => CliContext): void {
  const lifecycle = program.command('lifecycle').description('bucket lifecycle rules');
  lifecycle
    .command('abort-incomplete')
    .description(
      'make S3 abort unfinished multipart uploads after N days: checks the bucket rules, adds one if none does it, keeps every other rule',
    )
    .argument('<bucket>', 's3://bucket')
    .requiredOption('--days <n>', 'days after an upload started', (v) => Number.parseInt(v, 10))
    .option('--dry-run', 'only report whether a rule is there')
    .option('--json', 'print the result as JSON')
    .action(async (url: string, opts: { days: number; dryRun?: boolean; json?: boolean }) => {
      const c = ctx();
      if (!Number.isInteger(opts.days) || opts.days < 1)
        throw new StorageError('InvalidArgument', '--days must be a whole number ≥ 1');
      const t = openS3Target(c, url);
      try {
        const res = await t.call('PutBucketLifecycleConfiguration', () =>
          ensureAbortIncompleteRule(t.client, t.bucket, opts.days, { dryRun: opts.dryRun }),
        );
        if (opts.json) {
          c.out(
            JSON.stringify({ bucket: t.bucket, status: res.status, days: res.days, rules: res.rules.length }),
          );
          return;
        }
        const say = {
          present: `s3://${t.bucket}: unfinished uploads are already aborted after ${res.days} day(s); nothing changed`,
          added: `s3://${t.bucket}: added a rule aborting unfinished uploads after ${res.days} day(s) (${res.rules.length} rule(s) in all)`,
          updated: `s3://${t.bucket}: Ferry's rule now aborts unfinished uploads after ${res.days} day(s)`,
          missing: `s3://${t.bucket}: no rule aborts unfinished uploads within ${res.days} day(s) (dry run: nothing changed)`,
        }[res.status];
        c.out(say);
      } finally {
        t.close();
      }
    });
  lifecycle
    .command('ls')
    .description("the bucket's lifecycle rules")
    .argument('<bucket>', 's3://bucket')
    .option('--json', 'the rules as S3 holds them')
    .action(async (url: string, opts: { json?: boolean }) => {
      const c = ctx();
      const t = openS3Target(c, url);
      try {
        const rules = await t.call('GetBucketLifecycleConfiguration', () =>
          getLifecycleRules(t.client, t.bucket),
        );
        if (opts.json) c.out(JSON.stringify(rules, null, 2));
        else if (!rules.length) c.out(`s3://${t.bucket}: no lifecycle rules`);
        else for (const r of rules) c.out(describeRule(r));
      } finally {
        t.close();
      }
    });
  lifecycle
    .command('set')
    .description('add a rule, or replace the rule with the same --id; every other rule is kept')
    .argument('<bucket>', 's3://bucket')
    .requiredOption('--id <id>', 'the rule id')
    .option('--prefix <prefix>', 'only keys under this prefix')
    .option(
      '--tag <key=value>',
      'only objects with this tag (repeatable)',
      (v: string, all: string[] = []) => [...all, v],
    )
    .option(
      '--transition <days:class>',
      'move to a storage class after DAYS (repeatable), e.g. 30:STANDARD_IA',
      (v: string, all: string[] = []) => [...all, v],
    )
    .option('--expire-days <n>', 'delete objects N days after creation', int)
    .option('--noncurrent-expire-days <n>', 'delete old versions N days after they stop being current', int)
    .option('--abort-incomplete-days <n>', 'abort unfinished multipart uploads after N days', int)
    .option('--disabled', 'store the rule switched off')
    .action(
      async (
        url: string,
        o: {
          id: string;
          prefix?: string;
          tag?: string[];
          transition?: string[];
          expireDays?: number;
          noncurrentExpireDays?: number;
          abortIncompleteDays?: number;
          disabled?: boolean;
        },
      ) => {
        const c = ctx();
        const tags = (o.tag ?? []).map((kv) => {
          const eq = kv.indexOf('=');
          if (eq < 1) throw new StorageError('InvalidArgument', `--tag takes key=value, got ${kv}`);
          return { Key: kv.slice(0, eq), Value: kv.slice(eq + 1) };
        });
        const transitions = (o.transition ?? []).map((tr) => {
          const m = /^(\d+):([A-Z_]+)$/.exec(tr);
          if (!m)
            throw new StorageError(
              'InvalidArgument',
              `--transition takes DAYS:CLASS (e.g. 30:GLACIER), got ${tr}`,
            );
          return { Days: Number(m[1]), StorageClass: m[2] as TransitionStorageClass };
        });
        if (!transitions.length && !o.expireDays && !o.noncurrentExpireDays && !o.abortIncompleteDays)
          throw new StorageError(
            'InvalidArgument',
            'a rule needs an action: --transition, --expire-days, --noncurrent-expire-days or --abort-incomplete-days',
          );
        const filter =
          tags.length + (o.prefix ? 1 : 0) > 1
            ? { And: { Prefix: o.prefix, Tags: tags } }
            : tags.length
              ? { Tag: tags[0] }
              : { Prefix: o.prefix ?? '' };
        const rule: LifecycleRule = {
          ID: o.id,
          Status: o.disabled ? 'Disabled' : 'Enabled',
          Filter: filter,
          Transitions: transitions.length ? transitions : undefined,
          Expiration: o.expireDays ? { Days: o.expireDays } : undefined,
          NoncurrentVersionExpiration: o.noncurrentExpireDays
            ? { NoncurrentDays: o.noncurrentExpireDays }
            : undefined,
          AbortIncompleteMultipartUpload: o.abortIncompleteDays
            ? { DaysAfterInitiation: o.abortIncompleteDays }
            : undefined,
        };
        const t = openS3Target(c, url);
        try {
          const rules = await getLifecycleRules(t.client, t.bucket);
          const replaced = rules.some((r) => r.ID === o.id);
          await putLifecycleRules(t.client, t.bucket, [...rules.filter((r) => r.ID !== o.id), rule]);
          c.out(`${replaced ? 'replaced' : 'added'}: ${describeRule(rule)}`);
        } finally {
          t.close();
        }
      },
    );
  lifecycle
    .command('rm')
    .description('remove one rule by id (the others are kept), or every rule with --all')
    .argument('<bucket>', 's3://bucket')
    .option('--id <id>', 'the rule to remove')
    .option('--all', 'remove the whole lifecycle configuration')
    .action(async (url: string, o: { id?: string; all?: boolean }) => {
      const c = ctx();
      if (Boolean(o.id) === Boolean(o.all))
        throw new StorageError('InvalidArgument', 'give --id ID or --all');
      const t = openS3Target(c, url);
      try {
        const rules = await getLifecycleRules(t.client, t.bucket);
        const left = o.all ? [] : rules.filter((r) => r.ID !== o.id);
        if (!o.all && left.length === rules.length)
          throw new StorageError('NotFound', `s3://${t.bucket} has no lifecycle rule with id ${o.id}`);
        await putLifecycleRules(t.client, t.bucket, left);
        c.out(`s3://${t.bucket}: ${rules.length - left.length} rule(s) removed, ${left.length} left`);
      } finally {
        t.close();
      }
    });
}

function int(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1)
    throw new StorageError('InvalidArgument', `expected a whole number ≥ 1, got ${v}`);
  return n;
}
