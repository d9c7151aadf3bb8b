import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import type { Actor } from '../../src/accounts/types.js';
import { createS3Client } from '../../src/s3/client.js';
import { backends, system } from '../accounts/support.js';
import { testConnection } from '../support/s3.js';
import { addTestConnection, eventually, jobsOn, keysUnder, putObjects, removeUnder } from './support.js';

const manager: Actor = { kind: 'admin', name: 'mia', role: 'manager' };

/** Sync jobs on one node, on SQLite and on PostgreSQL, syncing between prefixes of the test RGW bucket. */
describe.each(backends)('sync jobs (%s)', (backend) => {
  const client = createS3Client(testConnection());
  const base = `t-jobs-${randomBytes(4).toString('hex')}`;
  afterAll(async () => removeUnder(client, base));

  it('saves a job, naming the bad field of bad input', async () => {
    const { jobs } = await jobsOn(backend);
    const add = (input: Record<string, unknown>) =>
      jobs.store.create({ name: 'j1', source: 'rgw:a', destination: 'rgw:b', ...input } as never, system);
    await expect(add({ schedule: '61 * * * *' })).rejects.toThrow(/schedule: not a cron schedule/);
    await expect(add({ source: 'nosuch:x' })).rejects.toThrow(/source: no connection named nosuch/);
    await expect(add({ destination: 'user:nobody/x' })).rejects.toThrow(/destination: no user named nobody/);
    await expect(add({ options: { mode: 'sideways' } })).rejects.toThrow(/options\.mode/);
    await expect(add({ destination: 's3+http://AKIA:secret@h:1/ferry-test/x' })).rejects.toThrow(
      /destination: a URL with keys is not stored/,
    );
    await expect(add({ destination: 'relative/folder' })).rejects.toThrow(/destination: .*neither/);
    await expect(add({ name: 'Bad Name' })).rejects.toThrow(/name: use 1–64/);
    await expect(
      jobs.store.create({ name: 'j1', source: 'rgw:a', destination: 'rgw:b' }, manager),
    ).rejects.toThrow(/role manager\) may not create jobs/);
    const made = await jobs.store.create(
      { name: 'j1', source: 's3://ferry-test/a/', destination: 'rgw:/b/c/', schedule: '0 3 * * *' },
      system,
    );
    expect(made).toMatchObject({
      name: 'j1',
      source: 'rgw:a',
      destination: 'rgw:b/c',
      options: { mode: 'copy', compare: 'size-mtime' },
      schedule: '0 3 * * *',
      enabled: true,
    });
    expect(made.nextRun).toMatch(/T03:00:00\.000Z$/);
    await expect(add({})).rejects.toMatchObject({ code: 'AlreadyExists' });
    await expect(jobs.store.update('j1', { schedule: 'every day' }, system)).rejects.toThrow(/schedule/);
    const changed = await jobs.store.update(
      'j1',
      { schedule: null, options: { mode: 'mirror', maxDelete: 5 } },
      system,
    );
    expect(changed.schedule).toBeUndefined();
    expect(changed.options).toEqual({ mode: 'mirror', compare: 'size-mtime', maxDelete: 5 });
    expect(changed.source).toBe('rgw:a');
    await jobs.store.remove('j1', system);
    await expect(jobs.store.get('j1')).rejects.toMatchObject({ code: 'NotFound' });
  });

  it('a triggered run copies, and its record has counts, bytes and an audit line', async () => {
    const { jobs, accounts } = await jobsOn(backend);
    const src = `${base}/${backend}-api/src`;
    const dst = `${base}/${backend}-api/dst`;
    await putObjects(client, src, { 'a.txt': 'alpha', 'sub/b.txt': 'bravo!', 'sub/c.txt': 'charlie' });
    await jobs.store.create({ name: 'copy', source: `rgw:${src}`, destination: `rgw:${dst}` }, system);
    const { run, done } = await jobs.trigger('copy', system);
    expect(run).toMatchObject({
      job: 'copy',
      trigger: 'api',
      status: 'running',
      node: 'node-a',
      actor: 'system',
    });
    const end = await done;
    expect(end).toMatchObject({
      status: 'ok',
      connectionTest: { ok: true },
      summary: { copied: 3, failed: 0 },
      bytes: 18,
    });
    expect(end.endedAt).toBeDefined();
    expect(await keysUnder(client, dst)).toEqual(['a.txt', 'sub/b.txt', 'sub/c.txt']);
    // A second run finds nothing to do; the history lists both, newest first.
    const again = await (await jobs.trigger('copy', system)).done;
    expect(again).toMatchObject({ status: 'ok', summary: { copied: 0, updated: 0 }, bytes: 0 });
    const history = await jobs.store.runs('copy');
    expect(history.map((r) => r.id)).toEqual([again.id, end.id]);
    const audit = await accounts.audit.list({ kind: 'job-run' });
    expect(audit.find((a) => (a.detail as { run?: string }).run === end.id)).toMatchObject({
      path: 'jobs/copy',
      result: 'ok',
      bytes: 18,
      actor: 'system',
    });
  });

  it("a job writes into a folder of a user's home (user:NAME/path)", async () => {
    const { jobs, accounts } = await jobsOn(backend);
    const src = `${base}/${backend}-home/src`;
    const home = `${base}/${backend}-home/homes/ann`;
    await putObjects(client, src, { 'report.csv': 'a,b\n' });
    await accounts.users.create(
      { username: 'ann', home: { type: 's3', connection: 'rgw', prefix: home } },
      system,
    );
    await jobs.store.create({ name: 'to-ann', source: `rgw:${src}`, destination: 'user:ann/inbox/' }, system);
    expect((await jobs.store.get('to-ann')).destination).toBe('user:ann/inbox');
    const end = await (await jobs.trigger('to-ann', system)).done;
    expect(end).toMatchObject({ status: 'ok', summary: { copied: 1 } });
    expect(await keysUnder(client, home)).toEqual(['inbox/report.csv']);
  });

  it('a dry run records the plan and copies nothing', async () => {
    const { jobs } = await jobsOn(backend);
    const src = `${base}/${backend}-dry/src`;
    const dst = `${base}/${backend}-dry/dst`;
    await putObjects(client, src, { 'one.txt': '1', 'two.txt': '22' });
    await jobs.store.create(
      { name: 'dry', source: `rgw:${src}`, destination: `rgw:${dst}`, options: { dryRun: true } },
      system,
    );
    const end = await (await jobs.trigger('dry', system)).done;
    expect(end.status).toBe('ok');
    expect(end.plan).toEqual([
      { op: 'copy', path: 'one.txt', to: 'one.txt', reason: 'new', size: 1 },
      { op: 'copy', path: 'two.txt', to: 'two.txt', reason: 'new', size: 2 },
    ]);
    expect(end.planSummary).toMatchObject({ actions: 2, copy: 2, 'copy:new': 2 });
    expect(await keysUnder(client, dst)).toEqual([]);
  });

  it('a mirror that would delete more than maxDelete is recorded as refused and changes nothing', async () => {
    const { jobs } = await jobsOn(backend);
    const src = `${base}/${backend}-maxdel/src`;
    const dst = `${base}/${backend}-maxdel/dst`;
    await putObjects(client, src, { 'keep.txt': 'k' });
    await putObjects(client, dst, { 'keep.txt': 'k', 'old1.txt': '1', 'old2.txt': '2', 'old3.txt': '3' });
    await jobs.store.create(
      {
        name: 'mirror',
        source: `rgw:${src}`,
        destination: `rgw:${dst}`,
        options: { mode: 'mirror', maxDelete: 2 },
      },
      system,
    );
    const end = await (await jobs.trigger('mirror', system)).done;
    expect(end.status).toBe('refused');
    expect(end.error).toMatch(
      /refusing to mirror: the plan would delete 3 files .* more than --max-delete 2; nothing was changed/,
    );
    expect(await keysUnder(client, dst)).toEqual(['keep.txt', 'old1.txt', 'old2.txt', 'old3.txt']);
  });

  it('a failing connection test fails the run clearly and copies nothing', async () => {
    const { jobs, accounts } = await jobsOn(backend);
    const src = `${base}/${backend}-bad/src`;
    const dst = `${base}/${backend}-bad/dst`;
    await putObjects(client, src, { 'x.txt': 'x' });
    await addTestConnection(accounts, 'wrongkey', 'not-the-secret-key-at-all');
    await jobs.store.create({ name: 'bad', source: `rgw:${src}`, destination: `wrongkey:${dst}` }, system);
    const end = await (await jobs.trigger('bad', system)).done;
    expect(end.status).toBe('failed');
    expect(end.error).toMatch(/^connection test failed: cannot list the destination wrongkey:t-jobs-/);
    expect(end.connectionTest?.ok).toBe(false);
    expect(end.summary).toBeUndefined();
    expect(end.error).not.toContain('not-the-secret-key');
    expect(await keysUnder(client, dst)).toEqual([]);
  });

  it('a tick is claimed once; a tick while the job runs is recorded as skipped', async () => {
    const { jobs } = await jobsOn(backend);
    await jobs.store.create({ name: 'ticks', source: 'rgw:x', destination: 'rgw:y' }, system);
    const t1 = '2026-01-01T00:00:01.000Z';
    const first = await jobs.store.claimTick('ticks', t1, 'node-a');
    expect(first.outcome).toBe('claimed');
    expect(await jobs.store.claimTick('ticks', t1, 'node-b')).toEqual({ outcome: 'lost' });
    const second = await jobs.store.claimTick('ticks', '2026-01-01T00:00:02.000Z', 'node-b');
    expect(second.outcome).toBe('skipped');
    expect(second.run).toMatchObject({ status: 'skipped', node: 'node-b' });
    expect(second.run?.error).toContain(`the run ${first.run?.id}`);
    // The other node, late for the same tick, neither runs nor records it again.
    expect(await jobs.store.claimTick('ticks', '2026-01-01T00:00:02.000Z', 'node-a')).toEqual({
      outcome: 'lost',
    });
    // Nor does a trigger start a second run; a running job is not removed.
    await expect(jobs.trigger('ticks', system)).rejects.toThrow(/job ticks is already running/);
    await expect(jobs.store.remove('ticks', system)).rejects.toMatchObject({ code: 'Conflict' });
    await jobs.store.finish(first.run?.id as string, { status: 'ok' });
    const third = await jobs.store.claimTick('ticks', '2026-01-01T00:00:03.000Z', 'node-a');
    expect(third.outcome).toBe('claimed');
    await jobs.store.finish(third.run?.id as string, { status: 'ok' });
    expect((await jobs.store.runs('ticks')).map((r) => r.status).sort()).toEqual(['ok', 'ok', 'skipped']);
  });

  it('a run whose node stopped renewing its lease is failed, and the job runs again', async () => {
    const { jobs, store } = await jobsOn(backend);
    await jobs.store.create({ name: 'lease', source: 'rgw:x', destination: 'rgw:y' }, system);
    const dead = await jobs.store.claimTick('lease', '2026-01-01T00:00:01.000Z', 'dead-node');
    // The dead node's last heartbeat was 5 s ago; a live one renews within its lease.
    await store.db
      .updateTable('sync_job_runs')
      .set({ heartbeat_at: new Date(Date.now() - 5000).toISOString() })
      .where('id', '=', dead.run?.id as string)
      .execute();
    expect(await jobs.store.expireLeases(10_000)).toEqual([]);
    const expired = await jobs.store.expireLeases(2000);
    expect(expired).toHaveLength(1);
    expect(expired[0]).toMatchObject({ id: dead.run?.id, status: 'failed' });
    expect(expired[0]?.error).toMatch(/the node dead-node running it stopped renewing its lease/);
    // A finish from the dead node arriving late changes nothing.
    await jobs.store.finish(dead.run?.id as string, { status: 'ok' });
    expect((await jobs.store.getRun(dead.run?.id as string)).status).toBe('failed');
    expect((await jobs.store.claimTick('lease', '2026-01-01T00:00:02.000Z', 'node-a')).outcome).toBe(
      'claimed',
    );
  });

  it('the scheduler runs a job every second, once per tick', async () => {
    const { jobs } = await jobsOn(backend, { schedule: true, pollMs: 100 });
    const src = `${base}/${backend}-sched/src`;
    const dst = `${base}/${backend}-sched/dst`;
    await putObjects(client, src, { 'f.txt': 'scheduled' });
    await jobs.store.create(
      { name: 'every-second', source: `rgw:${src}`, destination: `rgw:${dst}`, schedule: '* * * * * *' },
      system,
    );
    await eventually(
      async () => (await jobs.store.runs('every-second')).filter((r) => r.status !== 'running').length >= 3,
      'three scheduled runs ended',
    );
    await jobs.store.update('every-second', { enabled: false }, system);
    await eventually(async () => jobs.runner.running().length === 0, 'no run left');
    const runs = await jobs.store.runs('every-second', { limit: 1000 });
    const ticks = runs.map((r) => r.scheduledFor as string);
    expect(new Set(ticks).size).toBe(runs.length);
    for (const t of ticks) expect(t).toMatch(/:\d\d\.000Z$/);
    expect(runs.every((r) => r.trigger === 'schedule' && r.node === 'node-a')).toBe(true);
    const ok = runs.filter((r) => r.status === 'ok');
    expect(ok.reduce((n, r) => n + (r.summary?.copied ?? 0), 0)).toBe(1);
    expect(await keysUnder(client, dst)).toEqual(['f.txt']);
  });
});
