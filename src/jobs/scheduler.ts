import type { ChangeFeed } from '../accounts/types.js';
import { cronOf } from './model.js';
import type { JobLog, JobRunner } from './runner.js';
import type { JobStore } from './store.js';

export interface SchedulerOptions {
  store: JobStore;
  runner: JobRunner;
  /** This node's name in run records. */
  node: string;
  /** A running run whose heartbeat is older than this is failed by any node (ms). */
  leaseMs: number;
  /** How often the clock is looked at (ms); ticks are found to this precision. */
  pollMs?: number;
  /** `jobs` bumps make the job list reload at once (else every reloadMs). */
  changes?: Pick<ChangeFeed, 'subscribe'>;
  reloadMs?: number;
  log?: JobLog;
}

/**
 * The scheduler of one node. Every `pollMs` it finds, for each enabled scheduled job, the latest
 * tick of its cron schedule not yet handled, and tries to claim it (JobStore.claimTick): on
 * several nodes each tries, one wins (UNIQUE (job, scheduled_for)), so every tick runs once
 * while any node is up. Ticks missed while no node ran (or this node's event loop stalled past
 * several) are not caught up: only the latest is tried. Also every few seconds: expired leases
 * are failed (a node that died mid-run).
 */
export class JobScheduler {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private jobs: Awaited<ReturnType<JobStore['scheduled']>> = [];
  private loadedAt = 0;
  private reapedAt = 0;
  private dirty = true;
  /** Per job: the last tick handled (ms); starts at the moment the job was first seen. */
  private readonly handled = new Map<string, number>();
  private readonly crons = new Map<string, ReturnType<typeof cronOf>>();
  private unsubscribe: (() => void) | undefined;
  private loop: Promise<void> = Promise.resolve();

  constructor(private readonly o: SchedulerOptions) {}

  start(): void {
    this.unsubscribe = this.o.changes?.subscribe((topic) => {
      if (topic === 'jobs') this.dirty = true;
    });
    const poll = this.o.pollMs ?? 250;
    const next = () => {
      if (this.stopped) return;
      this.timer = setTimeout(() => {
        this.loop = this.tick()
          .catch((err) => this.o.log?.warn({ err: (err as Error).message }, 'job scheduler'))
          .finally(next);
      }, poll);
    };
    next();
  }

  /** Stop ticking; runs under way are not touched (see JobRunner.stopAll). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.unsubscribe?.();
    await this.loop;
  }

  /** One look at the clock (exported for tests through the class). */
  async tick(now = Date.now()): Promise<void> {
    const { store, runner, node, leaseMs } = this.o;
    if (now - this.reapedAt >= Math.min(5000, leaseMs / 2)) {
      this.reapedAt = now;
      for (const r of await store.expireLeases(leaseMs))
        this.o.log?.warn(
          { job: r.job, run: r.id, node: r.node, error: r.error },
          'job run failed: lease expired',
        );
    }
    if (this.dirty || now - this.loadedAt >= (this.o.reloadMs ?? 10_000)) {
      this.dirty = false;
      this.loadedAt = now;
      this.jobs = await store.scheduled();
      const names = new Set(this.jobs.map((j) => j.name));
      for (const name of this.handled.keys()) if (!names.has(name)) this.handled.delete(name);
    }
    for (const job of this.jobs) {
      if (!job.schedule) continue;
      let cron = this.crons.get(job.schedule);
      if (!cron) {
        cron = cronOf(job.schedule);
        this.crons.set(job.schedule, cron);
      }
      const since = this.handled.get(job.name);
      if (since === undefined) {
        this.handled.set(job.name, now);
        continue;
      }
      const tick = cron.previousRuns(1, new Date(now + 1))[0];
      if (!tick || tick.getTime() <= since) continue;
      this.handled.set(job.name, tick.getTime());
      const claimedAt = performance.now();
      const claim = await store.claimTick(job.name, tick.toISOString(), node);
      if (claim.outcome === 'claimed' && claim.run) void runner.start(job, claim.run, claimedAt);
      else if (claim.outcome === 'skipped')
        this.o.log?.info(
          { job: job.name, scheduledFor: tick.toISOString() },
          'job tick skipped: still running',
        );
    }
  }
}
