import type { Command } from 'commander';
import { ensureAbortIncompleteRule } from '../../s3/lifecycle.js';
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
}
