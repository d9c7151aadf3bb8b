import { setMaxListeners } from 'node:events';
import type { Command } from 'commander';
import { isS3Url } from '../../s3/url.js';
import { StorageError } from '../../storage/errors.js';
import { isWithin } from '../../storage/paths.js';
import {
  DEFAULT_CONCURRENCY,
  executePlan,
  planSync,
  type SyncAction,
  type SyncEvent,
  type SyncOptions,
  type SyncSide,
  type SyncSummary,
} from '../../sync/index.js';
import { localFoldersOverlap } from '../../util/real-path.js';
import { type CliContext, s3OptionsFrom } from '../context.js';
import { Locations } from '../location.js';
import { humanBytes } from '../output.js';
import { Progress } from '../progress.js';
import { modeAndCompare, type OneWayFlags } from '../sync-flags.js';
import { actionJson, eventLine } from '../sync-json.js';
import { addBisyncFlags, type BisyncFlags, runBisyncCommand } from './sync-bisync.js';

interface SyncFlags extends OneWayFlags {
  dryRun?: boolean;
  maxDelete?: number;
  transfers?: number;
  json?: boolean;
  progress?: boolean;
  verbose?: boolean;
}

const collect = (v: string, prev: string[] = []) => [...prev, v];
const count = (flag: string) => (v: string) => {
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n))
    throw new StorageError('InvalidArgument', `${flag} wants a whole number, got ${v}`);
  return n;
};

export function registerSync(program: Command, ctx: () => CliContext): void {
  addBisyncFlags(program.command('sync'))
    .description(
      'make DST hold what SRC holds: copy new and changed files (local↔S3, S3↔S3 across buckets and accounts, local↔local)',
    )
    .argument('<src>', 'the folder synced from: a local path or an s3:// URL')
    .argument('<dst>', 'the folder synced to (created as needed)')
    .option('--mirror', 'also delete at DST the files SRC does not have')
    .option(
      '--move',
      'delete each file at SRC once its copy at DST is verified (size, and SHA-256 when known)',
    )
    .option(
      '--checksum',
      'compare content (SHA-256: stored ferry-sha256, else computed by reading) instead of size and time',
    )
    .option('--size-only', 'compare sizes only')
    .option('--update', 'never replace a DST file that is newer than the SRC one')
    .option('--dry-run', 'print the plan and change nothing')
    .option(
      '--max-delete <n>',
      'refuse (and change nothing) when the plan would delete more than n files',
      count('--max-delete'),
    )
    .option(
      '--include <glob>',
      'only files matching (repeatable; no / in the glob: matches the name at any depth)',
      collect,
    )
    .option('--exclude <glob>', 'leave out files matching (repeatable), on both sides', collect)
    .option(
      '--append-only',
      'never overwrite or delete at DST: a name there with other content gets the copy as "name (1).ext"; works with s3:PutObject alone (docs/sync.md)',
    )
    .option('--transfers <n>', `files copied at once (default ${DEFAULT_CONCURRENCY})`, count('--transfers'))
    .option(
      '--json',
      'one JSON line per event on stdout (plan, copied, updated, conflict, deleted, skipped, failed, progress, summary)',
    )
    .option('--no-progress', 'no progress bar (it is shown only on a terminal anyway)')
    .option('-v, --verbose', 'print each file copied or deleted')
    .addHelpText(
      'after',
      '\nCompare (default): a file is copied when the sizes differ or the source is newer (whole seconds).\nExit codes: 0 all done · 1 some files failed (the summary says how many) · 2 refused (bad\narguments, --max-delete exceeded, mirror from an empty source) · 3 SRC missing · 130 interrupted.',
    )
    .action(async (srcArg: string, dstArg: string, flags: SyncFlags, cmd: Command) => {
      const c = ctx();
      const { mode, compare } = modeAndCompare(flags);
      if (flags.transfers === 0) throw new StorageError('InvalidArgument', '--transfers must be at least 1');
      const transfers = flags.transfers ?? DEFAULT_CONCURRENCY;
      // Every transfer in flight listens on the interrupt signal (a read and a write each).
      if (c.signal) setMaxListeners(4 * transfers + 16, c.signal);
      // The S3 clients' socket pools must hold every transfer in flight (client.ts: twice the
      // connection's concurrency, at least 64), unless --concurrency says otherwise.
      const globals = cmd.parent?.opts() ?? {};
      const s3 = s3OptionsFrom(globals);
      const locations = new Locations(
        { ...s3, concurrency: s3.concurrency ?? Math.min(256, Math.max(16, Math.ceil(transfers / 2))) },
        globals.connection as string | undefined,
      );
      try {
        const from = locations.open(srcArg);
        const to = locations.open(dstArg);
        const src: SyncSide = { storage: from.storage, root: from.path, display: from.display };
        const dst: SyncSide = { storage: to.storage, root: to.path, display: to.display };
        if (
          (src.storage === dst.storage && (isWithin(src.root, dst.root) || isWithin(dst.root, src.root))) ||
          (!isS3Url(srcArg) && !isS3Url(dstArg) && (await localFoldersOverlap(srcArg, dstArg)))
        )
          throw new StorageError(
            'InvalidArgument',
            `${from.display} and ${to.display} overlap: sync between separate folders`,
          );
        const two = flags as BisyncFlags;
        if (two.bidirectional || two.resync)
          return await runBisyncCommand(c, locations, [srcArg, dstArg], [src, dst], two);
        const options: SyncOptions = {
          mode,
          compare,
          update: flags.update,
          appendOnly: flags.appendOnly,
          maxDelete: flags.maxDelete,
          filters: { include: flags.include, exclude: flags.exclude },
          concurrency: transfers,
          dryRun: flags.dryRun,
          signal: c.signal,
        };
        await syncCommand(c, src, dst, options, flags);
      } finally {
        await locations.close();
      }
    });
}

async function syncCommand(
  c: CliContext,
  src: SyncSide,
  dst: SyncSide,
  options: SyncOptions,
  flags: SyncFlags,
) {
  const json = (o: Record<string, unknown>) => c.out(JSON.stringify(o));
  const started = performance.now();
  const plan = await planSync(src, dst, options);
  if (plan.blind)
    c.warn(
      `ferry: ${dst.display} cannot be listed with these credentials: every file is sent as a create-only write (If-None-Match: *); a name already there is skipped, not compared`,
    );
  if (options.dryRun || flags.json) {
    for (const a of plan.actions) {
      if (flags.json) json({ event: 'plan', ...actionJson(a) });
      else c.out(describe(a));
    }
  }
  const progress = new Progress({
    mode: options.dryRun ? 'off' : Progress.modeFor(flags.json, flags.progress !== false, process.stderr),
    bar: process.stderr,
    out: c.out,
  });
  for (const a of plan.actions) if (a.op === 'copy') progress.expect(a.entry.size);
  const onEvent = (e: SyncEvent) => {
    if (e.kind === 'bytes') {
      if (progress.active) progress.add(e.bytes);
      return;
    }
    if (e.kind === 'done' && e.action.op === 'copy') progress.fileDone();
    if (flags.json) return json(eventLine(e, undefined, c.scrub));
    if (e.kind === 'failed') c.warn(`ferry: failed: ${describe(e.action)}: ${e.error}`);
    else if (e.kind === 'skipped') c.warn(`ferry: skipped ${describe(e.action)}: ${e.detail}`);
    else if (flags.verbose) c.out(describe(e.action));
  };
  const summary = await executePlan(src, dst, plan, options, onEvent);
  summary.ms = Math.round(performance.now() - started); // plan included
  if (progress.active && !flags.json) progress.finish();
  if (flags.json) json({ event: 'summary', dryRun: !!options.dryRun, ...summary });
  else c.warn(summaryLine(summary, !!options.dryRun, plan.unchanged));
  if (summary.failed > 0) c.exitCode = 1;
}

/** One line of the plan or of -v output: `copy a.txt (new)`, `delete b.txt (mirror)`. */
function describe(a: SyncAction): string {
  if (a.op === 'mkdir') return `mkdir ${a.path}`;
  if (a.op === 'delete') return `delete ${a.on === 'src' ? 'source ' : ''}${a.path} (${a.reason})`;
  const verb = a.reason === 'changed' ? 'update' : 'copy';
  return `${verb} ${a.path}${a.to !== a.path ? ` -> ${a.to}` : ''} (${a.reason}, ${humanBytes(a.entry.size)})`;
}

/** The closing line: `copied 3, updated 1, … ; 17 B in 0.4 s`. */
export function summaryLine(s: SyncSummary, dryRun: boolean, unchanged: number): string {
  const head = dryRun ? 'dry run, nothing changed; would have ' : '';
  return `${head}copied ${s.copied}, updated ${s.updated}, deleted ${s.deleted}, conflicts ${s.conflicts}, skipped ${s.skipped} (${unchanged} unchanged), failed ${s.failed}; ${humanBytes(s.bytes)} in ${(s.ms / 1000).toFixed(1)} s`;
}
