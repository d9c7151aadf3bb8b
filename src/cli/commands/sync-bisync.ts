import type { Command } from 'commander';
import { connectionFromUrl } from '../../s3/connection.js';
import { isS3Url } from '../../s3/url.js';
import { StorageError } from '../../storage/errors.js';
import { runBisync } from '../../sync/bisync.js';
import { sideLabel } from '../../sync/bisync-plan.js';
import { defaultStateDir, fileStateStore, pairKey } from '../../sync/bisync-state.js';
import type { SideName, SyncAction, SyncEvent, SyncSide } from '../../sync/types.js';
import type { CliContext } from '../context.js';
import type { Locations } from '../location.js';
import { humanBytes } from '../output.js';
import { Progress } from '../progress.js';
import { type OneWayFlags, oneWayFlagsGiven } from '../sync-flags.js';
import { actionJson, eventLine } from '../sync-json.js';
import { summaryLine } from './sync.js';

/**
 * `ferry sync --bidirectional A B` (docs/sync.md "Two-way sync"): the flags it adds to `ferry
 * sync` and the command itself, over src/sync/bisync.ts. A is path1, B is path2.
 */

/** The one-way flags are among them: `--bidirectional` refuses them by name. */
export interface BisyncFlags extends OneWayFlags {
  bidirectional?: boolean;
  resync?: boolean;
  dryRun?: boolean;
  maxDelete?: number;
  json?: boolean;
  progress?: boolean;
  verbose?: boolean;
  transfers?: number;
}

export function addBisyncFlags(command: Command): Command {
  return command
    .option(
      '--bidirectional',
      'two-way: changes on either side go to the other, against the state saved by the last run (docs/sync.md)',
    )
    .option(
      '--resync',
      'with --bidirectional: start over (the first run needs it): both sides get the union of both, nothing is deleted',
    );
}

/**
 * What identifies a location for the pair's state file name: the endpoint, bucket and key of an
 * S3 URL (never its credentials), or the absolute local path.
 */
function identity(arg: string, locations: Locations, side: SyncSide): string {
  if (!isS3Url(arg)) return `local:${side.root}`;
  const conn = connectionFromUrl(arg, { ...locations.s3Settings(), prefix: '' });
  return JSON.stringify(['s3', conn.endpoint ?? 'aws', conn.bucket, side.root]);
}

export async function runBisyncCommand(
  c: CliContext,
  locations: Locations,
  args: [string, string],
  sides: [SyncSide, SyncSide],
  flags: BisyncFlags,
): Promise<void> {
  if (!flags.bidirectional) throw new StorageError('InvalidArgument', '--resync goes with --bidirectional');
  const refused = oneWayFlagsGiven(flags);
  if (refused.length > 0)
    throw new StorageError('InvalidArgument', `--bidirectional does not take ${refused.join(', ')}`);
  const [src, dst] = sides;
  const store = fileStateStore(
    defaultStateDir(),
    pairKey(identity(args[0], locations, src), identity(args[1], locations, dst)),
  );
  const json = (o: Record<string, unknown>) => c.out(JSON.stringify(o));
  const progress = new Progress({
    mode: flags.dryRun ? 'off' : Progress.modeFor(flags.json, flags.progress !== false, process.stderr),
    bar: process.stderr,
    out: c.out,
  });
  const onEvent = (e: SyncEvent) => {
    if (e.kind === 'bytes') {
      if (progress.active) progress.add(e.bytes);
      return;
    }
    if (e.kind === 'done' && e.action.op === 'copy') progress.fileDone();
    if (flags.json) return json(eventLine(e, sideLabel, c.scrub));
    if (e.kind === 'failed') c.warn(`ferry: failed: ${describe(e.action)}: ${e.error}`);
    else if (e.kind === 'skipped') c.warn(`ferry: skipped ${describe(e.action)}: ${e.detail}`);
    else if (flags.verbose) c.out(describe(e.action));
  };
  const { plan, summary, saved } = await runBisync(
    src,
    dst,
    {
      store,
      resync: flags.resync,
      dryRun: flags.dryRun,
      maxDelete: flags.maxDelete,
      concurrency: flags.transfers,
      signal: c.signal,
      onPlan: (p) => {
        for (const a of p.actions) {
          if (a.op === 'copy') progress.expect(a.entry.size);
          if (flags.json) json({ event: 'plan', ...actionJson(a, sideLabel) });
          else if (flags.dryRun) c.out(describe(a));
        }
      },
    },
    onEvent,
  );
  if (progress.active && !flags.json) progress.finish();
  for (const k of plan.conflicts) {
    const line = `conflict: ${k.path} changed on both sides; ${sideLabel(k.winner)}'s version keeps the name, ${sideLabel(k.loser)}'s is kept as ${k.name}`;
    if (flags.json)
      json({ event: 'conflict-kept', path: k.path, keptAs: k.name, winner: sideLabel(k.winner) });
    else c.warn(`ferry: ${line}`);
  }
  const note = flags.dryRun
    ? ''
    : saved
      ? '; state saved'
      : `; state NOT saved (something failed): the next run redoes what is left (${store.where})`;
  if (flags.json)
    json({ event: 'summary', dryRun: !!flags.dryRun, resync: !!flags.resync, stateSaved: saved, ...summary });
  else c.warn(`${summaryLine(summary, !!flags.dryRun, plan.unchanged)}${note}`);
  if (summary.failed > 0) c.exitCode = 1;
}

const label = (s: SideName) => sideLabel(s);

/** `copy path1 → path2: a.txt (new, 5 B)`, `delete on path2: b.txt (deleted on path1)`. */
function describe(a: SyncAction): string {
  if (a.op === 'mkdir') return `mkdir on ${label(a.on)}: ${a.path}`;
  if (a.op === 'delete')
    return `delete on ${label(a.on)}: ${a.path} (deleted on ${label(a.on === 'src' ? 'dst' : 'src')})`;
  const to = a.from === 'src' ? 'dst' : 'src';
  const verb = a.reason === 'changed' ? 'update' : a.reason === 'conflict' ? 'keep' : 'copy';
  return `${verb} ${label(a.from)} → ${label(to)}: ${a.path}${a.to !== a.path ? ` as ${a.to}` : ''} (${a.reason}, ${humanBytes(a.entry.size)})`;
}
