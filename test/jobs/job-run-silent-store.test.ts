import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openAccounts } from '../../src/accounts/accounts.js';
import type { Accounts } from '../../src/accounts/types.js';
import { openStore, type Store } from '../../src/db/database.js';
import { JobStore } from '../../src/jobs/store.js';
import { defaultHome, system } from '../accounts/support.js';
import { cliEnv, ferryBin } from '../support/cli.js';
import { freshPostgresUrl } from '../support/postgres.js';
import { startMuteServer, startSilentRelay, viaPort } from '../support/silent-relay.js';

/**
 * `ferry job run` (the run in the CLI process) when its PostgreSQL store goes silent mid-run
 * (packets dropped: a TCP relay that keeps the connections and passes nothing). The heartbeats
 * that fail reach the user on stderr (the store's password nowhere), and the command ends within
 * the store's bounds instead of waiting ~15 minutes for TCP to give up.
 */
describe('ferry job run: the store goes silent mid-run (postgres)', () => {
  let url: string;
  let store: Store;
  let accounts: Accounts;
  const secretKey = randomBytes(32);
  const closers: (() => Promise<unknown>)[] = [];

  beforeAll(async () => {
    url = await freshPostgresUrl();
    store = await openStore(url);
    accounts = await openAccounts(store, { secretKey, defaultHome, changePollMs: 100 });
  });
  afterAll(async () => {
    for (const c of closers.reverse()) await c().catch(() => {});
    await accounts?.close();
    await store?.close();
  });

  it('tells of the failed heartbeats on stderr and ends within the bounds', {
    timeout: 120_000,
  }, async () => {
    // An S3 endpoint that accepts and never answers: the run's connection test waits on it, so
    // the run is still going when the store goes silent.
    const s3 = await startMuteServer();
    closers.push(s3.close);
    await accounts.connections.create(
      {
        name: 'stall',
        settings: {
          bucket: 'stall',
          endpoint: `http://127.0.0.1:${s3.port}`,
          region: 'us-east-1',
          accessKeyId: 'AKIASTALLSTALLSTALL1',
          secretAccessKey: 'stall-secret-stall-secret-stall-secret00',
        },
      },
      system,
    );
    const jobs = new JobStore(store.db, accounts, Date.now, 'postgres');
    await jobs.create({ name: 'stall-job', source: 'stall:src', destination: 'stall:dst' }, system);

    const pgUrl = new URL(url);
    const relay = await startSilentRelay({ host: pgUrl.hostname, port: Number(pgUrl.port) });
    closers.push(() => relay.close());
    const viaRelay = new URL(viaPort(url, relay.port));
    viaRelay.password = 'hunter2-pg-password'; // trust auth: ignored by the server, never to be shown
    const child = spawn(
      process.execPath,
      [ferryBin, 'job', 'run', 'stall-job', '--data', mkdtempSync(join(tmpdir(), 'ferry-jobrun-'))],
      {
        env: cliEnv({
          FERRY_DATABASE: viaRelay.toString(),
          FERRY_SECRET_KEY: secretKey.toString('hex'),
          FERRY_JOBS__LEASE_SECONDS: '3',
          FERRY_DATABASE_QUERY_TIMEOUT_SECONDS: '1',
          FERRY_DATABASE_CONNECT_TIMEOUT_SECONDS: '1',
          FERRY_S3_IDLE_SECONDS: '3',
        }),
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    closers.push(async () => child.kill('SIGKILL'));
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));

    // The run is under way (its first heartbeat renewed the lease: the CLI has its record and
    // runs the connection test): the store goes silent.
    const t0 = Date.now();
    let running: string | undefined;
    let firstBeat: string | undefined;
    while (!running && Date.now() - t0 < 60_000) {
      const r = (await jobs.runs('stall-job')).find((x) => x.status === 'running');
      if (r && firstBeat !== undefined && r.heartbeatAt !== firstBeat) running = r.id;
      else {
        firstBeat ??= r?.heartbeatAt;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    expect(running, `the run never started; stderr: ${stderr}`).toBeDefined();
    relay.cut();
    const cutAt = Date.now();
    const code = await Promise.race([
      exited,
      new Promise<'still running'>((r) => setTimeout(() => r('still running'), 40_000)),
    ]);
    console.log(
      `[job run, silent store] ended ${Date.now() - cutAt} ms after the cut: ${code}\n${stdout}${stderr}`,
    );
    expect(code, `stdout: ${stdout}\nstderr: ${stderr}`).toBe(1);
    // A heartbeat's query unanswered, or (its connection dropped) no new one: each names the store.
    expect(stderr).toMatch(
      new RegExp(
        `ferry: job run: heartbeat failed \\(run ${running}\\): .*PostgreSQL at postgres://ferry:\\*\\*\\*@127\\.0\\.0\\.1:${relay.port}/\\w+.* within 1 s`,
      ),
    );
    expect(stdout).toMatch(new RegExp(`^run ${running} of stall-job: failed`));
    expect(stdout + stderr).not.toContain('hunter2');
    // What the run could not record, another node's reaper does once the lease is over.
    await new Promise((r) => setTimeout(r, 3000));
    const reaped = await jobs.expireLeases(3000);
    expect(reaped.map((r) => r.id)).toContain(running);
  });
});
