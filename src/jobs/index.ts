import { hostname } from 'node:os';
import type { Accounts, Actor } from '../accounts/types.js';
import type { Store } from '../db/database.js';
import { StoreMtimeIndex } from '../db/mtime-index.js';
import type { Services } from '../server/services.js';
import { StoragePool } from '../session/storage-pool.js';
import { runSync as defaultRunSync } from '../sync/index.js';
import type { RunSync } from '../sync/types.js';
import type { RunView } from './model.js';
import { type JobLog, JobRunner } from './runner.js';
import { JobScheduler } from './scheduler.js';
import { JobStore } from './store.js';

export interface JobsOptions {
  store: Store;
  accounts: Pick<Accounts, 'connections' | 'users' | 'audit' | 'changes'>;
  pool: StoragePool;
  /** Run the scheduler on this node (`jobs.enabled`); triggered runs work either way. */
  schedule: boolean;
  /** Seconds a run's lease lasts without a heartbeat (`jobs.leaseSeconds`). */
  leaseSeconds: number;
  /** This node's name in run records (default `host:pid`). */
  node?: string;
  pollMs?: number;
  runSync?: RunSync;
  log?: JobLog;
  /** This node's clock (ms since 1970; default Date.now): tests skew it. */
  clock?: () => number;
}

/** Sync jobs on one node: the store, the runner and (when enabled) the scheduler. */
export interface Jobs {
  store: JobStore;
  runner: JobRunner;
  node: string;
  /** Start a run now (API, CLI): its record as it starts; `done` resolves with the final one. */
  trigger(name: string, actor: Actor): Promise<{ run: RunView; done: Promise<RunView> }>;
  /**
   * Stop the scheduler, abort this node's runs (recorded failed), wait for their records (at
   * most `waitMs`): the ids of the runs whose records were still being written then.
   */
  close(waitMs?: number): Promise<string[]>;
}

export function openJobs(o: JobsOptions): Jobs {
  const node = o.node ?? `${hostname()}:${process.pid}`;
  const store = new JobStore(o.store.db, o.accounts, o.clock, o.store.dialect);
  const leaseMs = o.leaseSeconds * 1000;
  const runner = new JobRunner({
    store,
    pool: o.pool,
    accounts: o.accounts,
    runSync: o.runSync ?? defaultRunSync,
    heartbeatMs: Math.max(200, Math.floor(leaseMs / 3)),
    log: o.log,
  });
  const scheduler = o.schedule
    ? new JobScheduler({
        store,
        runner,
        node,
        leaseMs,
        pollMs: o.pollMs,
        changes: o.accounts.changes,
        log: o.log,
      })
    : undefined;
  scheduler?.start();
  return {
    store,
    runner,
    node,
    async trigger(name, actor) {
      const job = await store.get(name);
      const claimedAt = performance.now();
      const run = await store.startTriggered(name, node, actor);
      return { run, done: runner.start(job, run, claimedAt) };
    },
    async close(waitMs) {
      await scheduler?.stop();
      return runner.stopAll(`the node ${node} is stopping`, waitMs);
    },
  };
}

/**
 * Jobs for the local admin CLI on a data folder: no scheduler (the servers schedule), runs
 * triggered by `ferry job run` execute in the CLI process, on a storage pool of its own that
 * refuses the server's own files as `ferry serve`'s does. `log`: where heartbeat failures go.
 */
export function openLocalJobs(
  services: Services,
  protectedPaths: string[],
  leaseSeconds = 60,
  log?: JobLog,
): Jobs {
  const pool = new StoragePool({
    resolveConnection: (name) => services.accounts.connections.resolve(name),
    changes: services.accounts.changes,
    protectedPaths,
    mtimeIndex: new StoreMtimeIndex(services.store),
  });
  const jobs = openJobs({
    store: services.store,
    accounts: services.accounts,
    pool,
    schedule: false,
    leaseSeconds,
    node: `cli@${hostname()}:${process.pid}`,
    log,
  });
  return {
    ...jobs,
    close: async (waitMs) => {
      const unrecorded = await jobs.close(waitMs);
      pool.close();
      return unrecorded;
    },
  };
}
