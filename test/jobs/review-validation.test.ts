import { describe, expect, it } from 'vitest';
import type { Actor } from '../../src/accounts/types.js';
import { system } from '../accounts/support.js';
import { addTestConnection, jobsOn } from './support.js';

const manager: Actor = { kind: 'admin', name: 'mia', role: 'manager' };
const viewer: Actor = { kind: 'admin', name: 'vic', role: 'viewer' };

/** Review of the sync jobs (issue 11 part 3) as an attacker and a careless admin would use them. */
describe('sync jobs: review findings (sqlite)', () => {
  it('only role admin starts a run: a viewer or a manager is refused and no run is recorded', async () => {
    const { jobs } = await jobsOn('sqlite');
    await jobs.store.create({ name: 'r1', source: 'rgw:review-a', destination: 'rgw:review-b' }, system);
    await expect(jobs.trigger('r1', viewer)).rejects.toThrow(/role viewer\) may not run jobs/);
    await expect(jobs.trigger('r1', manager)).rejects.toThrow(/role manager\) may not run jobs/);
    expect(await jobs.store.runs('r1')).toEqual([]);
  });

  it('refuses a schedule that never fires (Feb 30), naming the field', async () => {
    const { jobs } = await jobsOn('sqlite');
    const add = (schedule: string) =>
      jobs.store.create({ name: 'r2', source: 'rgw:a', destination: 'rgw:b', schedule }, system);
    await expect(add('0 0 30 2 *')).rejects.toThrow(/schedule: .*never/);
    await expect(add('0 0 31 4 *')).rejects.toThrow(/schedule: .*never/);
    expect(await jobs.store.list()).toEqual([]);
  });

  it('a location that is not understood is not echoed with the keys it carries', async () => {
    const { jobs } = await jobsOn('sqlite');
    const secret = 'wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY';
    for (const source of [
      `https://AKIAEXAMPLE:${secret}@s3.example.com/bucket/x`,
      `AKIAEXAMPLE:${secret}@bucket/x`,
    ]) {
      const err = await jobs.store.create({ name: 'r3', source, destination: 'rgw:b' }, system).then(
        () => undefined,
        (e: Error) => e,
      );
      expect(err?.message).toMatch(/source: .*neither/);
      expect(err?.message).not.toContain(secret);
    }
  });
});

describe('sync jobs: a job keeps its connection (sqlite)', () => {
  it('a connection a job uses is not removed: it would fail every run, or sync another bucket if re-added', async () => {
    const { accounts, jobs } = await jobsOn('sqlite');
    await addTestConnection(accounts, 'gone');
    await jobs.store.create({ name: 'r4', source: 'rgw:review-a', destination: 'gone:review-b' }, system);
    await expect(accounts.connections.remove('gone', system)).rejects.toThrow(/in use by job r4/);
    await jobs.store.remove('r4', system);
    await accounts.connections.remove('gone', system);
    await expect(accounts.connections.get('gone')).rejects.toThrow(/gone/);
  });
});
