import type { Command } from 'commander';
import type { JobSyncOptions, JobView, RunView } from '../../jobs/model.js';
import { StorageError } from '../../storage/errors.js';
import { adminGroup, collect, intOption, printList, printView, withAdmin } from '../admin/admin-command.js';
import type { CliContext } from '../context.js';
import { modeAndCompare, ONE_WAY_FLAGS, type OneWayFlags } from '../sync-flags.js';

interface JobFlags extends OneWayFlags {
  schedule?: string;
  maxDelete?: number;
  concurrency?: number;
  dryRun?: boolean;
  disabled?: boolean;
  description?: string;
}

/** `ferry job add|list|show|run|runs|rm`: the server's sync jobs (docs/jobs.md). */
export function registerJob(program: Command, ctx: () => CliContext): void {
  const job = adminGroup(program, 'job', "the server's sync jobs: add, list, show, set, run, runs, rm");

  syncFlags(
    job
      .command('add')
      .argument('<name>')
      .argument('<source>', 'CONNECTION:prefix, s3://bucket/prefix, user:NAME/path or an absolute folder')
      .argument('<destination>', 'the same forms'),
  )
    .option(
      '--schedule <cron>',
      'cron schedule in UTC: 5 fields, or 6 with seconds first (unset: run on demand)',
    )
    .option('--disabled', 'saved but not scheduled')
    .option('--description <text>', 'a note about the job')
    .description('save a sync job')
    .action(async (name: string, source: string, destination: string, opts: JobFlags, cmd: Command) => {
      const c = ctx();
      await withAdmin(cmd, async (api, g) => {
        const view = await api.jobs.create({
          name,
          source,
          destination,
          options: optionsFrom(opts),
          ...(opts.schedule !== undefined && { schedule: opts.schedule }),
          ...(opts.disabled && { enabled: false }),
          ...(opts.description !== undefined && { description: opts.description }),
        });
        if (g.json) printView(c, view, true);
        else c.out(`created job ${view.name}: ${view.source} → ${view.destination}${when(view)}`);
      });
    });

  job
    .command('list')
    .description('list jobs')
    .action(async (_opts: unknown, cmd: Command) => {
      const c = ctx();
      await withAdmin(cmd, async (api, g) =>
        printList<JobView>(
          c,
          await api.jobs.list(),
          [
            ['NAME', (j) => j.name],
            ['SOURCE', (j) => j.source],
            ['DESTINATION', (j) => j.destination],
            ['MODE', (j) => `${j.options.mode}${j.options.dryRun ? ' (dry run)' : ''}`],
            ['SCHEDULE', (j) => j.schedule],
            ['ENABLED', (j) => (j.enabled ? 'yes' : 'no')],
            ['NEXT RUN', (j) => j.nextRun],
          ],
          g.json,
        ),
      );
    });

  job
    .command('show')
    .argument('<name>')
    .description('one job')
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      const c = ctx();
      await withAdmin(cmd, async (api, g) => printView(c, await api.jobs.get(name), g.json));
    });

  syncFlags(job.command('set').argument('<name>'))
    .option('--source <location>', 'another source')
    .option('--destination <location>', 'another destination')
    .option('--schedule <cron>', 'another schedule ("" : run on demand only)')
    .option('--enabled <yes|no>', 'scheduled or not')
    .option('--description <text>', 'a note about the job')
    .description('change a job (sync flags given replace its options)')
    .action(
      async (
        name: string,
        opts: JobFlags & { source?: string; destination?: string; enabled?: string },
        cmd: Command,
      ) => {
        const c = ctx();
        await withAdmin(cmd, async (api, g) => {
          const patch: Record<string, unknown> = {};
          if (opts.source !== undefined) patch.source = opts.source;
          if (opts.destination !== undefined) patch.destination = opts.destination;
          if (opts.schedule !== undefined) patch.schedule = opts.schedule === '' ? null : opts.schedule;
          if (opts.description !== undefined) patch.description = opts.description;
          if (opts.enabled !== undefined) {
            if (!/^(yes|no)$/.test(opts.enabled))
              throw new StorageError('InvalidArgument', '--enabled: yes or no');
            patch.enabled = opts.enabled === 'yes';
          }
          if (hasSyncFlags(opts)) patch.options = optionsFrom(opts);
          if (Object.keys(patch).length === 0)
            throw new StorageError('InvalidArgument', 'nothing to change (see --help)');
          const view = await api.jobs.update(name, patch);
          if (g.json) printView(c, view, true);
          else c.out(`changed job ${view.name}${when(view)}`);
        });
      },
    );

  job
    .command('run')
    .argument('<name>')
    .option('--no-wait', 'with --server: return as the run starts')
    .description('run a job now (on the server with --server, else in this process) and print its record')
    .action(async (name: string, opts: { wait: boolean }, cmd: Command) => {
      const c = ctx();
      await withAdmin(
        cmd,
        async (api, g) => {
          const run = await api.jobs.run(name, { wait: opts.wait });
          if (g.json) printView(c, run, true);
          else c.out(runLine(run));
          if (run.status === 'failed' || run.status === 'refused') c.exitCode = 1;
        },
        c.warn,
      );
    });

  job
    .command('runs')
    .argument('<name>')
    .argument('[id]', 'one run, in full')
    .option('--limit <n>', 'how many (newest first; default 20)', intOption('--limit'))
    .description("a job's run history")
    .action(async (name: string, id: string | undefined, opts: { limit?: number }, cmd: Command) => {
      const c = ctx();
      await withAdmin(cmd, async (api, g) => {
        if (id) {
          printView(c, await api.jobs.getRun(name, id), g.json);
          return;
        }
        printList<RunView>(
          c,
          await api.jobs.runs(name, opts.limit ?? 20),
          [
            ['ID', (r) => r.id],
            ['TRIGGER', (r) => r.trigger],
            ['STARTED', (r) => r.startedAt],
            ['STATUS', (r) => r.status],
            ['COPIED', (r) => r.summary && r.summary.copied + r.summary.updated],
            ['DELETED', (r) => r.summary?.deleted],
            ['BYTES', (r) => r.bytes],
            ['NODE', (r) => r.node],
            ['ERROR', (r) => r.error],
          ],
          g.json,
        );
      });
    });

  job
    .command('rm')
    .argument('<name>')
    .description('remove a job and its run history (refused while it runs)')
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      const c = ctx();
      await withAdmin(cmd, async (api, g) => {
        await api.jobs.remove(name);
        c.out(g.json ? JSON.stringify({ removed: name }) : `removed job ${name}`);
      });
    });
}

/** The sync flags of `ferry sync` that a job keeps. */
function syncFlags(command: Command): Command {
  return command
    .option('--mirror', 'also delete at the destination what the source lacks')
    .option('--move', 'delete at the source after a verified copy')
    .option('--checksum', 'compare content (ferry-sha256, else a computed hash)')
    .option('--size-only', 'compare sizes only')
    .option('--update', 'never replace a newer destination file')
    .option('--append-only', 'never overwrite or delete at the destination')
    .option('--max-delete <n>', 'refuse when the plan would delete more', intOption('--max-delete'))
    .option('--include <glob>', 'only paths matching (repeatable)', collect)
    .option('--exclude <glob>', 'skip paths matching (repeatable)', collect)
    .option('--concurrency <n>', 'files at once', intOption('--concurrency'))
    .option('--dry-run', 'plan only; the run records the plan');
}

function hasSyncFlags(o: JobFlags): boolean {
  return [...ONE_WAY_FLAGS.map(([k]) => o[k]), o.maxDelete, o.concurrency, o.dryRun].some(
    (v) => v !== undefined,
  );
}

function optionsFrom(o: JobFlags): JobSyncOptions {
  return {
    ...modeAndCompare(o),
    ...(o.update && { update: true }),
    ...(o.appendOnly && { appendOnly: true }),
    ...(o.maxDelete !== undefined && { maxDelete: o.maxDelete }),
    ...((o.include || o.exclude) && {
      filters: { ...(o.include && { include: o.include }), ...(o.exclude && { exclude: o.exclude }) },
    }),
    ...(o.concurrency !== undefined && { concurrency: o.concurrency }),
    ...(o.dryRun && { dryRun: true }),
  };
}

function when(j: JobView): string {
  if (!j.schedule) return ' (run on demand)';
  return `, schedule ${j.schedule}${j.enabled ? `, next ${j.nextRun}` : ' (disabled)'}`;
}

function runLine(r: RunView): string {
  const s = r.summary;
  const counts = s
    ? `: copied ${s.copied}, updated ${s.updated}, deleted ${s.deleted}, skipped ${s.skipped}, failed ${s.failed}, ${r.bytes} bytes in ${s.ms} ms`
    : '';
  return `run ${r.id} of ${r.job}: ${r.status}${counts}${r.error ? ` — ${r.error}` : ''}`;
}
