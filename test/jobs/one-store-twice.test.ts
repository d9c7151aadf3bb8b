import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Accounts } from '../../src/accounts/types.js';
import { StoreMtimeIndex } from '../../src/db/mtime-index.js';
import { type Jobs, openJobs } from '../../src/jobs/index.js';
import { createS3Client } from '../../src/s3/client.js';
import { StoragePool } from '../../src/session/storage-pool.js';
import { openTestAccounts, system } from '../accounts/support.js';
import { collect } from '../support/collect.js';
import { TEST_BUCKET, testConnection, testS3 } from '../support/s3.js';
import { addTestConnection, keysUnder, removeUnder } from './support.js';

/**
 * Jobs between two places of one store, as `ferry serve` runs them: the pool's S3 storages have
 * the store's mtime index, so files the server wrote list with their client mtime, not their
 * LastModified. Nested places named literally are refused when the job is saved; nested places
 * the text cannot tell apart (two connections to one bucket, a user's home in it) are refused by
 * the sync's listing evidence when the job runs, nothing deleted.
 */
describe('sync jobs over one store seen twice (the mtime index on)', () => {
  const client = createS3Client(testConnection());
  const base = `t-jobs-twice-${randomBytes(4).toString('hex')}`;
  let accounts: Accounts;
  let jobs: Jobs;
  let pool: StoragePool;
  let dir: string;

  beforeAll(async () => {
    const opened = await openTestAccounts('sqlite');
    accounts = opened.accounts;
    await addTestConnection(accounts, 'rgw');
    await addTestConnection(accounts, 'rgw2');
    // The same bucket through the other spelling of the endpoint (its own mtime-index scope).
    const s3 = testS3();
    const other = new URL(s3.endpoint);
    other.hostname = other.hostname === 'localhost' ? '127.0.0.1' : 'localhost';
    await accounts.connections.create(
      {
        name: 'alias',
        settings: {
          bucket: TEST_BUCKET,
          endpoint: other.origin,
          region: 'us-east-1',
          accessKeyId: s3.accessKeyId,
          secretAccessKey: s3.secretAccessKey,
        },
      },
      system,
    );
    pool = new StoragePool({
      resolveConnection: (n) => accounts.connections.resolve(n),
      changes: accounts.changes,
      mtimeIndex: new StoreMtimeIndex(opened.store),
    });
    jobs = openJobs({
      store: opened.store,
      accounts,
      pool,
      schedule: false,
      leaseSeconds: 60,
      node: 'node-a',
    });
    dir = await mkdtemp(join(tmpdir(), 'ferry-jobs-twice-'));
  });
  afterAll(async () => {
    await jobs?.close();
    pool?.close();
    await removeUnder(client, base);
    await rm(dir, { recursive: true, force: true });
  });

  const run = async (name: string) => (await jobs.trigger(name, system)).done;

  it('mirror and move between two connections, or a connection and a user home, in one bucket: refused at run, nothing deleted', async () => {
    // Files written by the server (a copy job from a local folder keeps their mtimes: 2020).
    const seed = join(dir, 'seed');
    await mkdir(join(seed, 'sub'), { recursive: true });
    const old = new Date('2020-01-02T03:04:05.000Z');
    for (const [p, body] of Object.entries({ 'sub/x.txt': 'ex', 'sub/y.txt': 'why', 'z.txt': 'zed' })) {
      await writeFile(join(seed, p), body);
      await utimes(join(seed, p), old, old);
    }
    const a = `${base}/a`;
    await jobs.store.create({ name: 'seed', source: seed, destination: `rgw:${a}` }, system);
    expect(await run('seed')).toMatchObject({ status: 'ok', summary: { copied: 3 } });
    // The listing shows the client time from the index (what made these files no evidence).
    const listed = await collect(
      (await pool.get({ type: 's3', connection: 'rgw', prefix: a })).list('', { recursive: true }),
    );
    const x = listed.find((e) => e.path === 'sub/x.txt');
    expect(x?.clientMtime).toBe(true);
    expect(x?.mtime.toISOString()).toBe(old.toISOString());
    expect(x?.storeMtime?.getTime()).toBeGreaterThan(old.getTime());

    await accounts.users.create(
      { username: 'ann', home: { type: 's3', connection: 'alias', prefix: a } },
      system,
    );
    const cases = [
      { name: 'two-conns', source: `rgw:${a}/sub`, destination: `alias:${a}`, mode: 'mirror' },
      { name: 'two-conns-back', source: `alias:${a}`, destination: `rgw:${a}/sub`, mode: 'mirror' },
      { name: 'to-home', source: `rgw:${a}/sub`, destination: 'user:ann', mode: 'mirror' },
      { name: 'home-move', source: 'user:ann/sub', destination: `rgw:${a}`, mode: 'move' },
      { name: 'same-move', source: `alias:${a}`, destination: `rgw:${a}`, mode: 'move' },
    ] as const;
    for (const c of cases) {
      await jobs.store.create(
        { name: c.name, source: c.source, destination: c.destination, options: { mode: c.mode } },
        system,
      );
      const end = await run(c.name);
      expect(end.status, c.name).toBe('refused');
      expect(end.error, c.name).toMatch(/look like one folder seen twice/);
      expect(end.summary, c.name).toBeUndefined();
      expect(await keysUnder(client, a), c.name).toEqual(['sub/x.txt', 'sub/y.txt', 'z.txt']);
    }
  });

  it('a copy between the two still runs (no false alarm from a copy: it has its own LastModified)', async () => {
    const a = `${base}/a`;
    await jobs.store.create({ name: 'copy-out', source: `rgw:${a}`, destination: `rgw2:${base}/b` }, system);
    expect(await run('copy-out')).toMatchObject({ status: 'ok', summary: { copied: 3 } });
    // b's files are copies of a's, same ETag and client mtime: a mirror between them is no overlap.
    await jobs.store.create(
      { name: 'mirror-out', source: `rgw:${a}`, destination: `alias:${base}/b`, options: { mode: 'mirror' } },
      system,
    );
    expect(await run('mirror-out')).toMatchObject({ status: 'ok', summary: { deleted: 0, failed: 0 } });
  });

  it('nested places named literally are refused when the job is saved or changed (400 naming destination)', async () => {
    const s3 = testS3();
    await accounts.connections.create(
      {
        name: 'rgwp',
        settings: {
          bucket: TEST_BUCKET,
          prefix: `${base}/p`,
          endpoint: `${s3.endpoint.toUpperCase()}/`,
          region: 'us-east-1',
          accessKeyId: s3.accessKeyId,
          secretAccessKey: s3.secretAccessKey,
        },
      },
      system,
    );
    await accounts.users.create(
      { username: 'bob', home: { type: 's3', connection: 'rgw', prefix: `${base}/homes/bob` } },
      system,
    );
    const local = join(dir, 'local');
    await mkdir(join(local, 'in'), { recursive: true });
    await symlink(local, join(dir, 'link'));
    const refused = [
      [`rgw:${base}/p`, `rgw:${base}/p/sub`],
      [`rgw:${base}/p/sub`, `rgw:${base}/p`],
      [`rgw:${base}/p`, `rgw:${base}/p`],
      [`s3://${TEST_BUCKET}/${base}/p/q/`, `alias:${base}/p`],
      // Two connections with one endpoint and bucket (other names, other keys): one place.
      [`rgw:${base}/p`, `rgw2:${base}/p/q`],
      [`rgw2:${base}/p`, `rgw:${base}/p`],
      [`rgw:${base}/p/q/r`, 'rgwp:q'],
      ['user:bob', `rgw2:${base}/homes`],
      ['user:bob', 'user:bob/inbox'],
      [`rgw:${base}/homes`, 'user:bob/inbox'],
      ['user:bob/x', `rgw:${base}/homes/bob/x/y`],
      [local, join(local, 'in')],
      [join(local, 'in'), join(dir, 'link')],
    ];
    for (const [i, [source, destination]] of refused.entries()) {
      const err = await jobs.store
        .create({ name: `nest-${i}`, source: source!, destination: destination! }, system)
        .then(
          () => undefined,
          (e: unknown) => e as { code?: string; field?: string; message?: string },
        );
      expect(err?.code, `${source} → ${destination}`).toBe('InvalidArgument');
      expect(err?.field, `${source} → ${destination}`).toBe('body.destination');
      expect(err?.message).toMatch(/^destination: .* overlap/);
    }
    // Side by side is fine; a change that makes them nest is refused and changes nothing.
    await jobs.store.create({ name: 'side', source: `rgw:${base}/p`, destination: `rgw:${base}/pq` }, system);
    await jobs.store.create({ name: 'side2', source: 'rgwp:x', destination: `rgw2:${base}/px` }, system);
    await jobs.store.create(
      { name: 'side3', source: `rgw:${base}/p`, destination: `alias:${base}/p/q` },
      system,
    );
    await expect(jobs.store.update('side', { destination: `rgw:${base}/p/q` }, system)).rejects.toMatchObject(
      {
        field: 'body.destination',
      },
    );
    expect((await jobs.store.get('side')).destination).toBe(`rgw:${base}/pq`);
    // A home that moved into the source after the job was saved: refused when it runs.
    await accounts.users.create(
      { username: 'cy', home: { type: 's3', connection: 'rgw', prefix: `${base}/homes/cy` } },
      system,
    );
    await jobs.store.create({ name: 'moved-home', source: `rgw:${base}/q`, destination: 'user:cy' }, system);
    await accounts.users.update(
      'cy',
      { home: { type: 's3', connection: 'rgw', prefix: `${base}/q/cy` } },
      system,
    );
    const end = await run('moved-home');
    expect(end).toMatchObject({ status: 'refused' });
    expect(end.error).toMatch(/overlap/);
  });
});
