import type { Accounts } from '../accounts/types.js';
import type { StoragePool } from '../session/storage-pool.js';
import { isAbsentFolder, StorageError } from '../storage/errors.js';
import { joinPath } from '../storage/paths.js';
import type { RunSync, SyncAction, SyncEvent, SyncPlan, SyncSide } from '../sync/types.js';
import { refuseOverlap, resolveSide } from './locations.js';
import { ERROR_LIMIT, type JobView, PLAN_LIMIT, type PlannedAction, type RunView } from './model.js';
import type { JobStore } from './store.js';

export interface JobLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface RunnerOptions {
  store: JobStore;
  pool: StoragePool;
  accounts: Pick<Accounts, 'users' | 'connections' | 'audit'>;
  runSync: RunSync;
  /**
   * A running run renews its lease this often (ms): a third of the lease. After two of these
   * without a renewal the run aborts itself.
   */
  heartbeatMs: number;
  log?: JobLog;
}

/**
 * Carries out one claimed run (its row is `running`): the connection test, then `runSync`, then
 * the run's record, one audit line and one log line. Never throws: every failure ends in the
 * run's record. A lost lease (another node expired the run) or `abort` stops the sync.
 */
export class JobRunner {
  private readonly active = new Map<string, { abort: AbortController; done: Promise<RunView> }>();

  constructor(private readonly o: RunnerOptions) {}

  /**
   * Start the run in the background; the promise resolves with its final record. `claimedAt`:
   * `performance.now()` taken before the claim that stamped the run's lease (default: now).
   */
  start(job: JobView, run: RunView, claimedAt = performance.now()): Promise<RunView> {
    const abort = new AbortController();
    const done = this.#run(job, run, abort, claimedAt).finally(() => this.active.delete(run.id));
    this.active.set(run.id, { abort, done });
    return done;
  }

  /** Runs of this node still going. */
  running(): string[] {
    return [...this.active.keys()];
  }

  /**
   * Abort every run of this node (shutdown) and wait until their records are written, at most
   * `waitMs` (a store gone silent would hold the stop): the ids of the runs still writing then.
   */
  async stopAll(reason: string, waitMs = Number.POSITIVE_INFINITY): Promise<string[]> {
    const all = [...this.active.entries()];
    for (const [, a] of all) a.abort.abort(new StorageError('Transient', reason));
    const settled = new Set<string>();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled(all.map(([id, a]) => a.done.finally(() => settled.add(id)))),
      ...(Number.isFinite(waitMs) ? [new Promise((r) => (timer = setTimeout(r, waitMs)))] : []),
    ]);
    clearTimeout(timer);
    return all.map(([id]) => id).filter((id) => !settled.has(id));
  }

  async #run(job: JobView, run: RunView, abort: AbortController, claimedAt: number): Promise<RunView> {
    const { store } = this.o;
    const started = Date.now();
    let leaseLost = false;
    // The lease is 3 heartbeats long. A run that could not renew it for 2 of them (the store is
    // out of reach, or answers too slowly) stops its own sync: another node fails it once the
    // whole lease is over, and may then start the job again — never while this one still syncs.
    // The deadline is a timer of its own, armed for the exact moment and moved on by each
    // renewal: a check made only on the heartbeat ticks drifts with their lateness (an interval
    // that ran late starts its next period from then), so a stalled event loop could push it
    // past the lease. `renewedAt` starts before the claim (the claim stamped the lease).
    let renewedAt = Math.min(claimedAt, performance.now());
    const giveUpMs = 2 * this.o.heartbeatMs;
    const lose = (why: string) => {
      if (abort.signal.aborted) return;
      leaseLost = true;
      abort.abort(new StorageError('Transient', why));
    };
    let deadline: NodeJS.Timeout | undefined;
    let ended = false;
    const arm = () => {
      clearTimeout(deadline);
      deadline = setTimeout(
        () =>
          lose(
            `no heartbeat reached the store for ${Math.round(giveUpMs / 1000)} s: the run stops before its lease is over`,
          ),
        Math.max(0, renewedAt + giveUpMs - performance.now()),
      );
      deadline.unref();
    };
    arm();
    const beat = setInterval(() => {
      const sent = performance.now();
      store.heartbeat(run.id).then(
        (alive) => {
          if (!alive) return lose('the run lost its lease (another node marked it failed)');
          renewedAt = Math.max(renewedAt, sent);
          if (!ended && !abort.signal.aborted) arm();
        },
        (err) => this.o.log?.warn({ run: run.id, err: (err as Error).message }, 'job run: heartbeat failed'),
      );
    }, this.o.heartbeatMs);
    beat.unref();
    let record: RunView;
    try {
      record = await this.#steps(job, run, abort.signal);
    } catch (err) {
      // The record itself may be gone (the job removed meanwhile), or the store out of reach:
      // end anyway, never reject — callers leave this promise unawaited, and an unhandled
      // rejection would stop the server.
      const error = `unexpected: ${(err as Error).message}`;
      record = await store.finish(run.id, { status: 'failed', error }).catch((e) => ({
        ...run,
        status: 'failed' as const,
        endedAt: new Date().toISOString(),
        error: `${error} (not recorded in the store: ${(e as Error).message})`,
      }));
    } finally {
      ended = true;
      clearInterval(beat);
      clearTimeout(deadline);
    }
    const ms = Date.now() - started;
    const line = {
      job: job.name,
      run: run.id,
      trigger: run.trigger,
      status: record.status,
      ...(record.summary && { summary: record.summary }),
      bytes: record.bytes,
      ms,
      ...(record.error ? { error: record.error } : {}),
      ...(leaseLost ? { leaseLost } : {}),
    };
    if (record.status === 'ok') this.o.log?.info(line, 'job run');
    else this.o.log?.warn(line, 'job run');
    await this.o.accounts.audit
      .record({
        kind: 'job-run',
        actor: run.actor ?? 'system',
        path: `jobs/${job.name}`,
        bytes: record.bytes,
        durationMs: ms,
        result: record.status,
        detail: {
          run: run.id,
          node: run.node,
          trigger: run.trigger,
          ...(run.scheduledFor ? { scheduledFor: run.scheduledFor } : {}),
          ...(record.summary && { summary: record.summary }),
          ...(record.error ? { error: record.error } : {}),
        },
      })
      .catch((err) => this.o.log?.warn({ err: (err as Error).message }, 'job run: audit line not written'));
    return record;
  }

  async #steps(job: JobView, run: RunView, signal: AbortSignal): Promise<RunView> {
    const { store } = this.o;
    const deps = { pool: this.o.pool, accounts: this.o.accounts };
    // Checked when the job was saved; again now, as a user's home may have moved since. Other
    // failures (a user gone) are the connection test's to report.
    const overlap = await refuseOverlap(job.source, job.destination, deps.accounts).then(
      () => undefined,
      (err: unknown) => (StorageError.is(err, 'InvalidArgument') ? err : undefined),
    );
    if (overlap) return store.finish(run.id, { status: 'refused', error: overlap.message });
    // Step 1, the connection test: both sides resolve, the source lists, the destination lists
    // and (unless a dry run or append-only) takes and gives back a probe file.
    let src: SyncSide;
    let dst: SyncSide;
    try {
      src = await resolveSide(job.source, 'source', deps);
      dst = await resolveSide(job.destination, 'destination', deps);
      await connectionTest(src, dst, run.id, job.options, signal);
    } catch (err) {
      const detail = (err as Error).message;
      return store.finish(run.id, {
        status: 'failed',
        connectionTest: { ok: false, detail },
        error: `connection test failed: ${detail}`,
      });
    }
    const tested = { ok: true };
    // Step 2, the sync.
    const errors: NonNullable<RunView['errors']> = [];
    const onEvent = (e: SyncEvent) => {
      if (e.kind === 'failed' && errors.length < ERROR_LIMIT)
        errors.push({ path: actionPath(e.action), error: e.error });
    };
    try {
      const { plan, summary } = await this.o.runSync(src, dst, { ...job.options, signal }, onEvent);
      const failed = summary.failed > 0;
      return store.finish(run.id, {
        status: failed ? 'failed' : 'ok',
        connectionTest: tested,
        summary,
        // A dry run's summary counts what it would do; the run itself moved nothing.
        bytes: job.options.dryRun ? 0 : summary.bytes,
        ...(failed && { error: `${summary.failed} file(s) failed` }),
        errors,
        planSummary: planSummary(plan),
        ...(job.options.dryRun && { plan: plan.actions.slice(0, PLAN_LIMIT).map(planned) }),
      });
    } catch (err) {
      const refused = isRefusal(err);
      return store.finish(run.id, {
        status: refused ? 'refused' : 'failed',
        connectionTest: tested,
        error: signal.aborted
          ? `aborted: ${(signal.reason as Error)?.message ?? 'stopped'}`
          : (err as Error).message,
        errors,
      });
    }
  }
}

/**
 * The seeds' connection test, over the Storage contract (any backend): list the source, list
 * the destination, write and remove a zero-byte probe there (when the folder exists). A missing
 * destination folder is fine (the sync creates it); a missing source is not.
 */
async function connectionTest(
  src: SyncSide,
  dst: SyncSide,
  runId: string,
  options: JobView['options'],
  signal: AbortSignal,
): Promise<void> {
  const step = async (what: string, fn: () => Promise<unknown>) => {
    try {
      await fn();
    } catch (err) {
      throw new StorageError(
        StorageError.is(err) ? err.code : 'Transient',
        `${what}: ${(err as Error).message}`,
        { cause: err },
      );
    }
  };
  await step(`cannot list the source ${src.display}`, async () => {
    for await (const _ of src.storage.list(src.root, { limit: 1, signal })) break;
  });
  let dstExists = true;
  await step(`cannot list the destination ${dst.display}`, async () => {
    try {
      for await (const _ of dst.storage.list(dst.root, { limit: 1, signal })) break;
    } catch (err) {
      if (!isAbsentFolder(err)) throw err;
      dstExists = false;
    }
  });
  // A probe in a folder that does not exist yet would leave the folder behind (S3 keeps a
  // folder whose last file goes with a marker): there the sync's own first write is the test.
  if (options.dryRun || options.appendOnly || !dstExists) return;
  const probe = joinPath(dst.root, `.ferry-job-probe-${runId}`);
  await step(`cannot write to the destination ${dst.display}`, () =>
    dst.storage.write(probe, '', { size: 0, signal }),
  );
  await step(`cannot remove a file at the destination ${dst.display}`, () =>
    dst.storage.remove(probe, { signal }),
  );
}

/** A sync that refused to act (max-delete exceeded, mirror from an empty or missing source). */
function isRefusal(err: unknown): boolean {
  const e = err as { refused?: unknown; code?: string; message?: string };
  return e?.refused === true || /\brefus/i.test(e?.message ?? '');
}

function actionPath(a: SyncAction): string {
  return a.path;
}

function planned(a: SyncAction): PlannedAction {
  if (a.op === 'copy') return { op: 'copy', path: a.path, to: a.to, reason: a.reason, size: a.entry.size };
  if (a.op === 'delete') return { op: 'delete', path: a.path, reason: a.reason, size: a.entry.size };
  return { op: 'mkdir', path: a.path };
}

/** Counts by `op` and `op:reason`, the unchanged files and what listing cost. */
function planSummary(plan: SyncPlan): Record<string, number> {
  const out: Record<string, number> = { actions: plan.actions.length, unchanged: plan.unchanged };
  for (const a of plan.actions) {
    out[a.op] = (out[a.op] ?? 0) + 1;
    if ('reason' in a) out[`${a.op}:${a.reason}`] = (out[`${a.op}:${a.reason}`] ?? 0) + 1;
  }
  out['listed:src'] = plan.listed.src;
  out['listed:dst'] = plan.listed.dst;
  return out;
}
