import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ServeProcess, serverEnv } from '../server/serve-process.js';
import { requireBuiltCli } from '../support/cli.js';
import { eventually, type Received, Receiver, upload } from './support.js';

/**
 * Issue 11's must-show with the DEFAULT delivery settings (events.retryBaseMilliseconds 10 s
 * doubling, maxAttempts 12, pollMilliseconds 1 s, webhook timeout 10 s): a real `ferry serve`
 * process, an event rule per receiver, N uploads through the HTTP file API (session layer) spread
 * over a 60-second outage of the receiver; it comes back; every event arrives, each delivery id
 * exactly once, none dead. Outages: the port closed (connection refused), 503 answers, requests
 * left hanging past the webhook's timeout; and a restart of `ferry serve` in the middle of one.
 * Each case takes the outage's 60 s plus start-up and delivery (~80–100 s on a quiet machine).
 * The timeline (when each id arrived, relative to the receiver's return) is printed, not asserted:
 * docs/notes/issue-11.md "Session 3: outage and leases" records a run.
 */
const OUTAGE_MS = 60_000;
const UPLOADS = 12;
const ADMIN = 'outage-admin-password';
const USER = { username: 'olga', password: 'olga-password-1' };

describe('event rules: a receiver down for a minute, default retry settings', () => {
  const dirs: string[] = [];
  const servers: ServeProcess[] = [];
  const receivers: Receiver[] = [];

  beforeAll(async () => {
    await requireBuiltCli();
  });
  afterAll(async () => {
    for (const s of servers) await s.close();
    for (const r of receivers) await r.down();
  });

  async function serve(data?: string): Promise<{ url: string; data: string }> {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-outage-'));
    dirs.push(dir);
    const folder = data ?? join(dir, 'data');
    const server = new ServeProcess(['--http', '127.0.0.1:0', '--data', folder], {
      cwd: dir,
      env: serverEnv({ FERRY_ADMIN_PASSWORD: ADMIN }),
    });
    servers.push(server);
    const url = (await server.waitFor(/http: listening on (http:\/\/\S+)/, 120_000))[1] as string;
    return { url, data: folder };
  }

  async function admin(
    url: string,
  ): Promise<(method: string, path: string, body?: unknown) => Promise<unknown>> {
    const login = await fetch(`${url}/api/v1/admin/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'admin', password: ADMIN }),
    });
    expect(login.status).toBe(200);
    const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] as string;
    return async (method, path, body) => {
      const res = await fetch(`${url}/api/v1${path}`, {
        method,
        headers: { cookie, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await res.text();
      if (res.status >= 300) throw new Error(`${method} ${path}: HTTP ${res.status} ${text}`);
      return text ? JSON.parse(text) : undefined;
    };
  }

  const sleepUntil = (t: number) => new Promise((r) => setTimeout(r, Math.max(0, t - Date.now())));
  const ok = (r: Received) => r.status >= 200 && r.status < 300;

  /** The deliveries of `rule` (newest first), through the API. */
  async function deliveries(api: Awaited<ReturnType<typeof admin>>, rule: string) {
    const page = (await api('GET', `/event-deliveries?rule=${rule}&limit=1000`)) as { items: unknown[] };
    return page.items as {
      id: string;
      status: string;
      attempts: number;
      event: { path: string };
    }[];
  }

  /** Every upload's delivery came once with a 2xx, none is dead; prints the timeline. */
  async function checkOnce(
    api: Awaited<ReturnType<typeof admin>>,
    rule: string,
    receiver: Receiver,
    back: number,
    uploadedAt: number[],
    start: number,
  ) {
    await eventually(
      () => receiver.counts(ok).size === UPLOADS,
      `${rule}: ${UPLOADS} ids delivered`,
      300_000,
    );
    await eventually(
      async () => (await deliveries(api, rule)).every((d) => d.status === 'done'),
      `${rule}: all done`,
      60_000,
    );
    // A little later, still once each.
    await new Promise((r) => setTimeout(r, 2000));
    const rows = await deliveries(api, rule);
    const okArrivals = receiver.received.filter(ok);
    const paths = okArrivals.map((r) => JSON.parse(r.body).event.path as string);
    const late = okArrivals.map((r) => ((r.at - back) / 1000).toFixed(1));
    console.log(
      `[outage] ${rule}: uploads at ${uploadedAt.map((t) => ((t - start) / 1000).toFixed(0)).join(',')} s; ` +
        `receiver back at ${((back - start) / 1000).toFixed(1)} s; ` +
        `failed requests it saw ${receiver.received.filter((r) => !ok(r)).length}; ` +
        `2xx arrivals after its return (s): ${late.join(',')}; order ${paths.join(',')}; ` +
        `attempts by path ${rows.map((d) => `${d.event.path}:${d.attempts}`).join(',')}`,
    );
    expect(rows).toHaveLength(UPLOADS);
    expect(rows.filter((d) => d.status !== 'done')).toEqual([]);
    const counts = receiver.counts(ok);
    expect([...counts.keys()].sort()).toEqual(rows.map((d) => d.id).sort());
    expect([...counts.values()]).toEqual(Array(UPLOADS).fill(1));
    // Those uploaded in the outage's first 45 s failed at least once before it ended (a later
    // one's first attempt may come after the return: the worker was busy with hanging requests).
    // A hanging receiver holds at most half the worker's slots (worker.ts), so its later events
    // wait for a slot instead: some of them, not all, were tried in the outage.
    const early = rows.filter((d) => Number(d.event.path.slice(2, 4)) < (UPLOADS * 3) / 4);
    if (rule === 'hung') expect(early.filter((d) => d.attempts >= 2).length).toBeGreaterThan(0);
    else expect(early.filter((d) => d.attempts < 2).map((d) => `${rule}${d.event.path}`)).toEqual([]);
    expect(okArrivals.every((r) => r.at >= back)).toBe(true);
  }

  it('refused, 503 and hanging receivers: every event afterwards, each once, none dead', {
    timeout: 600_000,
  }, async () => {
    const refused = new Receiver();
    const busy = new Receiver();
    const hung = new Receiver();
    receivers.push(refused, busy, hung);
    for (const r of [refused, busy, hung]) await r.up();
    const { url } = await serve();
    const api = await admin(url);
    await api('POST', '/users', USER);
    for (const [name, r] of [
      ['refused', refused],
      ['busy', busy],
      ['hung', hung],
    ] as const)
      await api('POST', '/event-rules', { name, on: ['upload'], actions: [{ type: 'webhook', url: r.url }] });

    const start = Date.now();
    await refused.down();
    busy.status = 503;
    hung.hang = true;
    const uploadedAt: number[] = [];
    for (let i = 0; i < UPLOADS; i++) {
      await sleepUntil(start + (i * OUTAGE_MS) / UPLOADS);
      uploadedAt.push(Date.now());
      await upload(url, USER.username, USER.password, `/f${String(i).padStart(2, '0')}.txt`, `file ${i}`);
    }
    await sleepUntil(start + OUTAGE_MS);
    await refused.up();
    busy.status = 200;
    hung.hang = false;
    const back = Date.now();
    // While down: the refused receiver saw nothing, the others only failures.
    expect(busy.received.filter(ok)).toEqual([]);
    expect(hung.received.filter(ok)).toEqual([]);
    for (const [name, r] of [
      ['refused', refused],
      ['busy', busy],
      ['hung', hung],
    ] as const)
      await checkOnce(api, name, r, back, uploadedAt, start);
    expect(busy.received.some((r) => r.status === 503)).toBe(true);
    expect(hung.received.some((r) => r.status === 0)).toBe(true);
  });

  it('ferry serve restarted during the outage: every event afterwards, each once', {
    timeout: 600_000,
  }, async () => {
    const receiver = new Receiver();
    receivers.push(receiver);
    await receiver.up();
    const first = await serve();
    let api = await admin(first.url);
    await api('POST', '/users', USER);
    await api('POST', '/event-rules', {
      name: 'restart',
      on: ['upload'],
      actions: [{ type: 'webhook', url: receiver.url }],
    });
    const start = Date.now();
    await receiver.down();
    const uploadedAt: number[] = [];
    let url = first.url;
    for (let i = 0; i < UPLOADS; i++) {
      if (i === UPLOADS / 2) {
        // Half-way through the outage: SIGTERM (as an operator stops it), start again.
        const old = servers.at(-1) as ServeProcess;
        old.child.kill('SIGTERM');
        expect((await old.exited).code).toBe(0);
        url = (await serve(first.data)).url;
        api = await admin(url);
      }
      await sleepUntil(start + (i * OUTAGE_MS) / UPLOADS);
      uploadedAt.push(Date.now());
      await upload(url, USER.username, USER.password, `/r${String(i).padStart(2, '0')}.txt`, `file ${i}`);
    }
    await sleepUntil(start + OUTAGE_MS);
    await receiver.up();
    const back = Date.now();
    await checkOnce(api, 'restart', receiver, back, uploadedAt, start);
  });
});
