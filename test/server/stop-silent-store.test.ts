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
import { cliEnv } from '../support/cli.js';
import { freshPostgresUrl } from '../support/postgres.js';
import { startMuteServer, startSilentRelay, viaPort } from '../support/silent-relay.js';
import { ServeProcess } from './serve-process.js';

/**
 * `ferry serve`'s graceful stop (SIGTERM) while a job run is under way and its PostgreSQL store
 * has gone silent (a relay that keeps the connections and passes nothing): the stop waits a
 * bounded time for the run's record, says so, and finishes — instead of waiting for TCP to give up.
 */
describe('ferry serve: SIGTERM with the store silent and a job run under way (postgres)', () => {
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

  it('stops within its bounds, naming the run left unrecorded', { timeout: 120_000 }, async () => {
    // The run's connection test waits on an S3 endpoint that never answers.
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
    await jobs.create(
      { name: 'every-second', source: 'stall:src', destination: 'stall:dst', schedule: '* * * * * *' },
      system,
    );
    const pgUrl = new URL(url);
    const relay = await startSilentRelay({ host: pgUrl.hostname, port: Number(pgUrl.port) });
    closers.push(() => relay.close());
    const dir = mkdtempSync(join(tmpdir(), 'ferry-stop-silent-'));
    const server = new ServeProcess(['--data', dir, '--http', '127.0.0.1:0', '--sftp', 'off'], {
      cwd: dir,
      env: cliEnv({
        FERRY_DATABASE: viaPort(url, relay.port),
        FERRY_SECRET_KEY: secretKey.toString('hex'),
        FERRY_DATABASE_QUERY_TIMEOUT_SECONDS: '2',
        FERRY_DATABASE_CONNECT_TIMEOUT_SECONDS: '1',
        FERRY_S3_IDLE_SECONDS: '30',
      }),
    });
    closers.push(() => server.close());
    await server.httpUrl();
    const t0 = Date.now();
    let running: string | undefined;
    while (!running && Date.now() - t0 < 60_000) {
      running = (await jobs.runs('every-second')).find((r) => r.status === 'running')?.id;
      if (!running) await new Promise((r) => setTimeout(r, 100));
    }
    expect(running, `no run started\n${server.stdout}${server.stderr}`).toBeDefined();
    await new Promise((r) => setTimeout(r, 1000)); // the claim has its record back
    relay.cut();
    const stopAt = Date.now();
    server.child.kill('SIGTERM');
    await server.waitFor(/^stopped$/m, 60_000);
    const ms = Date.now() - stopAt;
    console.log(`[stop, silent store] 'stopped' ${ms} ms after SIGTERM\n${server.stdout}${server.stderr}`);
    expect(server.stdout).toMatch(
      /stopping: 1 job run\(s\) had not ended and been recorded after 3 s \(the store or the run's storage does not answer\)/,
    );
    expect(server.stdout).toContain(running);
    expect(ms).toBeLessThan(20_000);
  });
});
