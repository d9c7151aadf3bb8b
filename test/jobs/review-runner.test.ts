import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { createS3Client } from '../../src/s3/client.js';
import { system } from '../accounts/support.js';
import { testConnection } from '../support/s3.js';
import { jobsOn, putObjects, removeUnder } from './support.js';

/**
 * A run whose record vanishes from under it (the job removed in the window between
 * JobStore.remove's running check and its delete, or by hand): the run's promise must still end,
 * not reject — the scheduler and `POST /jobs/{name}/run` leave it unawaited, and an unhandled
 * rejection stops `ferry serve` (Node 20).
 */
describe('sync jobs: a run whose record is gone (sqlite)', () => {
  const client = createS3Client(testConnection());
  const base = `t-jobs-review-${randomBytes(4).toString('hex')}`;
  afterAll(async () => removeUnder(client, base));

  it('ends as failed instead of rejecting', async () => {
    const { jobs, store } = await jobsOn('sqlite');
    await putObjects(client, `${base}/src`, { 'a.txt': 'a', 'b.txt': 'b' });
    await jobs.store.create(
      { name: 'gone', source: `rgw:${base}/src`, destination: `rgw:${base}/dst` },
      system,
    );
    const { run, done } = await jobs.trigger('gone', system);
    await store.db.deleteFrom('sync_job_runs').where('id', '=', run.id).execute();
    const end = await done;
    expect(end.id).toBe(run.id);
    expect(end.status).toBe('failed');
    expect(end.error).toMatch(/not recorded in the store: no job run with id/);
  });
});
