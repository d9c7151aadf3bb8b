import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openAccounts } from '../../src/accounts/accounts.js';
import type { Accounts } from '../../src/accounts/types.js';
import { openStore, type Store } from '../../src/db/database.js';
import { createS3Client } from '../../src/s3/client.js';
import { createSessionManager } from '../../src/session/session-manager.js';
import { StorageError } from '../../src/storage/errors.js';
import { defaultHome, system } from '../accounts/support.js';
import { freshPostgresUrl } from '../support/postgres.js';
import { ensureBucket, testConnection } from '../support/s3.js';
import { s3Objects } from './support.js';

/** Two nodes: two stores, account services and session managers on one PostgreSQL database. */
describe('two nodes on one PostgreSQL: the quota ledger and connection changes are shared', () => {
  const nodes: { store: Store; accounts: Accounts; manager: ReturnType<typeof createSessionManager> }[] = [];
  const key = randomBytes(32);
  const conn = testConnection();
  let client: S3Client;
  let dir: string;

  beforeAll(async () => {
    const url = await freshPostgresUrl();
    for (let i = 0; i < 2; i++) {
      const store = await openStore(url);
      const accounts = await openAccounts(store, { secretKey: key, defaultHome, changePollMs: 100 });
      nodes.push({ store, accounts, manager: createSessionManager({ accounts, store }) });
    }
    client = createS3Client(conn);
    await ensureBucket(client, conn.bucket);
    dir = mkdtempSync(join(tmpdir(), 'ferry-nodes-'));
  });
  afterAll(async () => {
    for (const n of nodes) {
      await n.manager.shutdown(0);
      await n.accounts.close();
      await n.store.close();
    }
    client?.destroy();
  });

  const login = (node: number, username: string) =>
    nodes[node]!.manager.login({
      username,
      password: 'correct horse',
      protocol: 'test',
      remote: '127.0.0.1',
    });

  it('a quota used on node A is seen by node B, and uploads on both never pass it together', async () => {
    const [a] = nodes;
    await a!.accounts.users.create(
      {
        username: 'shared',
        password: 'correct horse',
        home: { type: 'local', path: join(dir, 'shared') },
        quota: { bytes: 10_000 },
      },
      system,
    );
    const onA = await login(0, 'shared');
    const onB = await login(1, 'shared');
    await onA.write('/first.bin', randomBytes(4000));
    expect(await nodes[1]!.manager.ledger.usage('shared')).toEqual({ bytes: 4000, files: 1 });
    expect((await onB.about('/')).free).toBe(6000);
    // 10 uploads of 1000 bytes, alternating nodes, at once: exactly 6 fit.
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, (_, i) => (i % 2 ? onB : onA).write(`/f${i}.bin`, randomBytes(1000))),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(6);
    for (const r of results.filter((r) => r.status === 'rejected'))
      expect(StorageError.is((r as PromiseRejectedResult).reason, 'QuotaExceeded')).toBe(true);
    expect(await nodes[0]!.manager.ledger.usage('shared')).toEqual({ bytes: 10_000, files: 7 });
    await onB.remove('/first.bin');
    expect(await nodes[0]!.manager.ledger.usage('shared')).toEqual({ bytes: 6000, files: 6 });
  });

  it('a connection changed on node A: node B opens new sessions on the new settings', async () => {
    const [a] = nodes;
    const settings = {
      bucket: conn.bucket,
      prefix: `${conn.prefix}/one`,
      endpoint: conn.endpoint,
      region: conn.region,
      accessKeyId: conn.accessKeyId,
      secretAccessKey: conn.secretAccessKey,
    };
    await a!.accounts.connections.create({ name: 'moving', settings }, system);
    await a!.accounts.users.create(
      {
        username: 'mover',
        password: 'correct horse',
        home: { type: 's3', connection: 'moving', prefix: 'home' },
      },
      system,
    );
    const before = await login(1, 'mover');
    await before.write('/a.txt', 'one');
    await before.close();
    await a!.accounts.connections.update('moving', { settings: { prefix: `${conn.prefix}/two` } }, system);
    // Node B hears of it (LISTEN/NOTIFY) and drops its cached storage.
    for (let i = 0; ; i++) {
      const s = await login(1, 'mover');
      await s.write('/b.txt', 'two');
      await s.close();
      const keys = (await s3Objects(client, conn.bucket, `${conn.prefix}/two`)).map((o) => o.key);
      if (keys.includes(`${conn.prefix}/two/home/b.txt`)) break;
      if (i > 20) throw new Error('node B kept writing with the old connection settings');
      await new Promise((r) => setTimeout(r, 100));
    }
    expect((await s3Objects(client, conn.bucket, `${conn.prefix}/one`)).map((o) => o.key)).toContain(
      `${conn.prefix}/one/home/a.txt`,
    );
  });
});
