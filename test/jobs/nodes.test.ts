import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Validator } from '@seriousme/openapi-schema-validator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunView } from '../../src/jobs/model.js';
import { createS3Client } from '../../src/s3/client.js';
import { curl, ferryWithInput } from '../server/serve-process.js';
import { TEST_BUCKET, testConnection } from '../support/s3.js';
import { loginAdmin, startTwoNodes, type TwoNodes } from '../support/two-nodes.js';
import { eventually, keysUnder, putObjects, removeUnder } from './support.js';

/**
 * Two `ferry serve` processes on one PostgreSQL database, each running the job scheduler: a job
 * scheduled every second runs exactly once per tick (one run row per tick, the files copied once),
 * whichever node claims it. Also the jobs API (validation, trigger, history, OpenAPI) and
 * `ferry job` on the store.
 */
describe('sync jobs on two ferry serve nodes on one PostgreSQL', () => {
  let nodes: TwoNodes | undefined;
  let dir: string;
  let urlA: string;
  let urlB: string;
  let env: NodeJS.ProcessEnv;
  const client = createS3Client(testConnection());
  const prefix = `t-jobnodes-${randomBytes(4).toString('hex')}`;
  const cookies = () => ['-b', join(dir, 'cookies')];
  const json = (method: string, url: string, body?: unknown) =>
    curl([
      ...cookies(),
      '-X',
      method,
      ...(body === undefined ? [] : ['-H', 'content-type: application/json', '-d', JSON.stringify(body)]),
      url,
    ]);
  const job = (args: string[]) => ferryWithInput(['job', ...args, '--data', join(dir, 'a')], '', env, dir);

  beforeAll(async () => {
    nodes = await startTwoNodes({
      name: 'ferry-jobnodes',
      homes: `${prefix}/homes`,
      adminPassword: 'jobs-admin-password',
    });
    ({ dir, env, urlA, urlB } = nodes);
    const login = await loginAdmin(urlA, 'jobs-admin-password', join(dir, 'cookies'));
    expect(login.status).toBe(200);
  });
  afterAll(async () => {
    await nodes?.close();
    await removeUnder(client, prefix);
  });

  async function runsOf(name: string, url = urlA): Promise<RunView[]> {
    const r = await json('GET', `${url}/api/v1/jobs/${name}/runs?limit=1000`);
    expect(r.status, r.body).toBe(200);
    return JSON.parse(r.body).items;
  }

  it('a job scheduled every second runs once per tick across both nodes', async () => {
    await putObjects(client, `${prefix}/src`, { 'a.txt': 'one', 'b.txt': 'two', 'c/d.txt': 'three' });
    const added = await job([
      'add',
      'every-second',
      `default:${prefix}/src`,
      `s3://${TEST_BUCKET}/${prefix}/dst`,
      '--schedule',
      '* * * * * *',
    ]);
    expect(added.stderr).toBe('');
    expect(added.stdout).toMatch(
      new RegExp(`created job every-second: default:${prefix}/src → default:${prefix}/dst, schedule`),
    );
    const ended = async (n: number) =>
      (await runsOf('every-second')).filter((r) => r.status !== 'running').length >= n;
    await eventually(() => ended(4), 'four runs ended', 30_000);
    // A file added meanwhile is copied by a later tick, once.
    await putObjects(client, `${prefix}/src`, { 'late.txt': 'late' });
    await eventually(() => ended(8), 'eight runs ended', 30_000);
    const off = await json('PATCH', `${urlB}/api/v1/jobs/every-second`, { enabled: false });
    expect(off.status, off.body).toBe(200);
    // Both nodes learn of it (NOTIFY) and stop claiming; wait for the last run to end.
    await new Promise((r) => setTimeout(r, 2000));
    await eventually(
      async () => (await runsOf('every-second')).every((r) => r.status !== 'running'),
      'no run left running',
    );
    const runs = await runsOf('every-second', urlB);
    const ticks = runs.map((r) => Date.parse(r.scheduledFor as string)).sort((x, y) => x - y);
    // Once per tick: no tick has two rows …
    expect(new Set(ticks).size).toBe(ticks.length);
    // … and none between the first and the last was left out.
    const first = ticks[0] as number;
    expect(ticks).toEqual(ticks.map((_, i) => first + i * 1000));
    expect(runs.every((r) => r.status === 'ok' || r.status === 'skipped')).toBe(true);
    const copied = runs.reduce((n, r) => n + (r.summary?.copied ?? 0) + (r.summary?.updated ?? 0), 0);
    expect(copied).toBe(4);
    expect(await keysUnder(client, `${prefix}/dst`)).toEqual(['a.txt', 'b.txt', 'c/d.txt', 'late.txt']);
    const nodes = new Set(runs.map((r) => r.node));
    console.log(
      `every-second: ${runs.length} ticks, ${runs.filter((r) => r.status === 'ok').length} ok, nodes ${[...nodes].join(', ')}`,
    );
  });

  it('the jobs API validates, triggers and keeps the history; ferry job sees the same', async () => {
    const bad = await json('POST', `${urlA}/api/v1/jobs`, {
      name: 'api-job',
      source: `default:${prefix}/src`,
      destination: `default:${prefix}/api-dst`,
      schedule: '* * 32 * *',
    });
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body).error).toMatchObject({ code: 'InvalidArgument', field: 'body.schedule' });
    const noConn = await json('POST', `${urlA}/api/v1/jobs`, {
      name: 'api-job',
      source: 'nosuch:x',
      destination: `default:${prefix}/api-dst`,
    });
    expect(noConn.status).toBe(400);
    expect(JSON.parse(noConn.body).error).toMatchObject({ field: 'body.source' });
    expect(JSON.parse(noConn.body).error.message).toContain('no connection named nosuch');
    const made = await json('POST', `${urlA}/api/v1/jobs`, {
      name: 'api-job',
      source: `default:${prefix}/src`,
      destination: `default:${prefix}/api-dst`,
    });
    expect(made.status, made.body).toBe(201);
    const waited = await json('POST', `${urlB}/api/v1/jobs/api-job/run?wait=true`);
    expect(waited.status, waited.body).toBe(200);
    const first: RunView = JSON.parse(waited.body);
    expect(first).toMatchObject({
      status: 'ok',
      trigger: 'api',
      actor: 'admin:admin',
      summary: { copied: 4 },
      bytes: 15, // one + two + three + late
    });
    const started = await json('POST', `${urlA}/api/v1/jobs/api-job/run`);
    expect(started.status, started.body).toBe(202);
    const second: RunView = JSON.parse(started.body);
    expect(second.status).toBe('running');
    await eventually(async () => {
      const r = await json('GET', `${urlB}/api/v1/jobs/api-job/runs/${second.id}`);
      return JSON.parse(r.body).status === 'ok';
    }, 'the second run ended');
    const history = await runsOf('api-job', urlB);
    expect(history.map((r) => r.id)).toEqual([second.id, first.id]);
    const listed = await job(['runs', 'api-job', '--json']);
    expect(listed.code, listed.stderr).toBe(0);
    expect(JSON.parse(listed.stdout).map((r: RunView) => r.id)).toEqual([second.id, first.id]);
    // `ferry job run` on the store runs it in the CLI process.
    const local = await job(['run', 'api-job']);
    expect(local.code, local.stderr).toBe(0);
    expect(local.stdout).toMatch(
      /^run \S+ of api-job: ok: copied 0, updated 0, deleted 0, skipped 4, failed 0, 0 bytes/,
    );
    expect((await runsOf('api-job'))[0]?.node).toMatch(/^cli@/);
    const missing = await json('POST', `${urlA}/api/v1/jobs/nosuch/run`);
    expect(missing.status).toBe(404);
    const removed = await job(['rm', 'api-job']);
    expect(removed.stdout.trim()).toBe('removed job api-job');
    expect((await json('GET', `${urlA}/api/v1/jobs/api-job`)).status).toBe(404);
  });

  it('the OpenAPI document of a server with jobs validates and has their operations', async () => {
    const r = await curl([`${urlA}/api/openapi.json`]);
    const doc = JSON.parse(r.body);
    expect((await new Validator().validate(doc)).errors).toBeUndefined();
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/api/v1/jobs',
        '/api/v1/jobs/{name}',
        '/api/v1/jobs/{name}/run',
        '/api/v1/jobs/{name}/runs',
        '/api/v1/jobs/{name}/runs/{id}',
      ]),
    );
  });
});
