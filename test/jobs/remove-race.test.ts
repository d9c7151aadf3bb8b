import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openJobs } from '../../src/jobs/index.js';
import { StoragePool } from '../../src/session/storage-pool.js';
import { backends, openTestAccounts, system } from '../accounts/support.js';

/**
 * JobStore.remove and a run starting at the same moment (docs/notes/issue-11.md "Jobs: review",
 * the remove() race): the scheduler's job list lags a removal (it reloads on the change feed), so
 * a tick of a just-removed job is claimed after the removal; and a run that starts between
 * remove's "is it running?" and its delete lost its record. Now the removal is one statement
 * (`DELETE … WHERE NOT EXISTS (a running run)`, runs go by the foreign key's cascade) and a claim
 * for a job that is gone is refused, never run.
 */
describe.each(backends)('sync jobs: remove vs a starting run (%s)', (backend) => {
  it('a tick or trigger of a removed job is not run; remove refuses a running job', async () => {
    const { accounts, store } = await openTestAccounts(backend);
    const pool = new StoragePool({
      resolveConnection: (n) => accounts.connections.resolve(n),
      changes: accounts.changes,
    });
    const jobs = openJobs({ store, accounts, pool, schedule: false, leaseSeconds: 60, node: 'node-a' });
    try {
      const dir = mkdtempSync(join(tmpdir(), 'ferry-remove-race-'));
      mkdirSync(join(dir, 'src'));
      const job = { name: 'gone', source: join(dir, 'src'), destination: join(dir, 'dst') };
      await jobs.store.create(job, system);
      // A running run: remove is refused, nothing deleted.
      const tick = await jobs.store.claimTick('gone', '2026-01-01T00:00:00.000Z', 'node-a');
      expect(tick.outcome).toBe('claimed');
      await expect(jobs.store.remove('gone', system)).rejects.toThrow(/is running/);
      expect((await jobs.store.getRun(tick.run?.id as string)).status).toBe('running');
      await jobs.store.finish(tick.run?.id as string, { status: 'ok' });
      await jobs.store.remove('gone', system);
      // The scheduler, not yet reloaded, claims the next tick of the removed job: refused.
      const late = await jobs.store.claimTick('gone', '2026-01-01T00:01:00.000Z', 'node-a');
      expect(late.outcome).toBe('lost');
      await expect(jobs.store.startTriggered('gone', 'node-a', system)).rejects.toThrow(/no job named gone/);
      const left = await store.db
        .selectFrom('sync_job_runs')
        .select('id')
        .where('job', '=', 'gone')
        .execute();
      expect(left).toEqual([]);
    } finally {
      await jobs.close();
      pool.close();
    }
  });
});
