import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Accounts } from '../../src/accounts/types.js';
import type { Store } from '../../src/db/database.js';
import { createS3Client } from '../../src/s3/client.js';
import type { S3Connection } from '../../src/s3/connection.js';
import {
  AUTH_FAILED,
  createSessionManager,
  type NodeSessionManager,
} from '../../src/session/session-manager.js';
import type { SessionEvent } from '../../src/session/types.js';
import { failure, openTestAccounts, system } from '../accounts/support.js';
import { ensureBucket, testConnection } from '../support/s3.js';
import { multipartUploads, s3Objects } from './support.js';

const MiB = 1024 * 1024;

/** Wait until `check` passes (audit records are written after the operation, asynchronously). */
async function eventually(check: () => Promise<void>): Promise<void> {
  for (let i = 0; ; i++) {
    try {
      return await check();
    } catch (err) {
      if (i > 50) throw err;
      await sleep(50);
    }
  }
}

describe('session manager: logins, limits, audit and shutdown (real accounts on SQLite, homes on RGW)', () => {
  let accounts: Accounts;
  let store: Store;
  let conn: S3Connection;
  let client: S3Client;
  let manager: NodeSessionManager;
  const events: SessionEvent[] = [];

  beforeAll(async () => {
    ({ accounts, store } = await openTestAccounts('sqlite', {
      defender: { maxFailures: 3, banSeconds: 60 },
    }));
    conn = testConnection({ partSize: 5 * MiB, multipartThreshold: 5 * MiB, partConcurrency: 2 });
    client = createS3Client(conn);
    await ensureBucket(client, conn.bucket);
    await accounts.connections.create(
      {
        name: 'rgw',
        settings: {
          bucket: conn.bucket,
          prefix: conn.prefix,
          endpoint: conn.endpoint,
          region: conn.region,
          accessKeyId: conn.accessKeyId,
          secretAccessKey: conn.secretAccessKey,
          partSize: conn.partSize,
          multipartThreshold: conn.multipartThreshold,
          partConcurrency: conn.partConcurrency,
        },
      },
      system,
    );
    const home = (name: string) => ({ type: 's3' as const, connection: 'rgw', prefix: name });
    await accounts.users.create(
      { username: 'alice', password: 'correct horse', home: home('alice') },
      system,
    );
    await accounts.users.create(
      { username: 'off', password: 'correct horse', enabled: false, home: home('off') },
      system,
    );
    await accounts.users.create(
      { username: 'old', password: 'correct horse', expiresAt: '2020-01-01T00:00:00Z', home: home('old') },
      system,
    );
    await accounts.users.create(
      { username: 'fenced', password: 'correct horse', deniedIps: ['10.0.0.0/8'], home: home('fenced') },
      system,
    );
    await accounts.users.create(
      { username: 'two', password: 'correct horse', maxSessions: 2, home: home('two') },
      system,
    );
    await accounts.users.create(
      {
        username: 'slow',
        password: 'correct horse',
        bandwidth: { uploadBytesPerSecond: MiB, downloadBytesPerSecond: MiB },
        home: home('slow'),
      },
      system,
    );
    manager = createSessionManager({ accounts, store });
    manager.onEvent((e) => void events.push(e));
  });
  afterAll(async () => {
    await manager?.shutdown(0);
    client?.destroy();
  });

  const login = (username: string, password = 'correct horse', remote = '127.0.0.1') =>
    manager.login({ username, password, protocol: 'test', remote });

  it('logs a user in on their RGW home; every operation is an event and the audit log keeps them', async () => {
    const s = await login('alice');
    await s.write('/docs/a.txt', 'hello');
    const text = await new Response((await s.read('/docs/a.txt')) as never).text();
    expect(text).toBe('hello');
    await s.mkdir('/new');
    await s.rename('/docs/a.txt', '/new/b.txt');
    await s.remove('/new/b.txt');
    await s.close();
    const mine = events.filter((e) => e.sessionId === s.id).map((e) => `${e.kind}:${e.result}`);
    expect(mine).toEqual([
      'login:ok',
      'upload:ok',
      'download:ok',
      'mkdir:ok',
      'rename:ok',
      'delete:ok',
      'logout:ok',
    ]);
    expect(events.find((e) => e.kind === 'upload' && e.sessionId === s.id)).toMatchObject({
      username: 'alice',
      path: '/docs/a.txt',
      bytes: 5,
      protocol: 'test',
      remote: '127.0.0.1',
    });
    await eventually(async () => {
      const kinds = (await accounts.audit.list({ actor: 'alice' })).map((a) => a.kind).reverse();
      expect(kinds).toEqual(['login', 'upload', 'download', 'mkdir', 'rename', 'delete', 'logout']);
    });
    // The ledger was kept step by step; recompute walks the home and agrees (0 files left).
    await manager.ledger.set('alice', { bytes: 999, files: 9 });
    expect(await manager.recomputeQuota('alice')).toEqual({ bytes: 0, files: 0 });
    // Objects really are in RGW under the connection's prefix + the home's (the folders stay).
    expect(await s3Objects(client, conn.bucket, `${conn.prefix}/alice`)).toEqual([
      { key: `${conn.prefix}/alice/docs/`, size: 0 },
      { key: `${conn.prefix}/alice/new/`, size: 0 },
    ]);
  });

  it('one message for every authentication failure; the reason goes to the audit log only', async () => {
    const cases: [string, string, string][] = [
      ['alice', 'wrong password', '192.0.2.1'],
      ['nobody', 'correct horse', '192.0.2.2'],
      ['off', 'correct horse', '192.0.2.3'],
      ['old', 'correct horse', '192.0.2.4'],
      ['fenced', 'correct horse', '10.1.2.3'],
    ];
    for (const [user, password, ip] of cases) {
      const err = await failure(login(user, password, ip));
      expect(err.code).toBe('PermissionDenied');
      expect(err.message).toBe(AUTH_FAILED);
    }
    await eventually(async () => {
      const failed = await accounts.audit.list({ kind: 'login-failed' });
      const reasons = Object.fromEntries(
        failed.map((f) => [f.actor, (f.detail as { reason?: string })?.reason]),
      );
      expect(reasons).toMatchObject({
        off: 'disabled',
        old: 'expired',
        fenced: 'address not allowed',
      });
      expect(reasons.alice).toMatch(/bad credentials/);
    });
    // The fenced user is fine from elsewhere.
    await (await login('fenced', 'correct horse', '192.0.2.9')).close();
  });

  it('the defender bans an address after repeated failures, even for the right password', async () => {
    const ip = '198.51.100.7';
    await accounts.users.create(
      {
        username: 'target',
        password: 'correct horse',
        home: { type: 's3', connection: 'rgw', prefix: 'target' },
      },
      system,
    );
    for (let i = 0; i < 3; i++) await failure(login('target', `wrong ${i}`, ip));
    const err = await failure(login('target', 'correct horse', ip));
    expect(err.message).toBe(AUTH_FAILED);
    expect(await accounts.defender.bannedUntil(ip)).toBeInstanceOf(Date);
    // The user is banned too (per-user key), so the right password from elsewhere is refused as well…
    expect(await accounts.defender.bannedUntil('198.51.100.8', 'target')).toBeInstanceOf(Date);
    expect((await failure(login('target', 'correct horse', '198.51.100.8'))).message).toBe(AUTH_FAILED);
    await accounts.defender.unban('user:target', system);
    // …until lifted; the address stays banned.
    await (await login('target', 'correct horse', '198.51.100.8')).close();
    expect((await failure(login('target', 'correct horse', ip))).message).toBe(AUTH_FAILED);
  });

  it('max sessions per user per node', async () => {
    const a = await login('two');
    const b = await login('two');
    const err = await failure(login('two'));
    // Busy, not refused: HTTP answers 503 (retry), not 401 with a Basic challenge.
    expect(err.code).toBe('Transient');
    expect(err.message).toMatch(/too many sessions/);
    await a.close();
    const c = await login('two');
    expect(manager.active().filter((s) => s.user.username === 'two')).toHaveLength(2);
    await Promise.all([b.close(), c.close()]);
  });

  it("the home's bucket is checked at login unless the connection says noCheckBucket", async () => {
    const base = {
      bucket: `ferry-missing-${randomBytes(4).toString('hex')}`,
      endpoint: conn.endpoint,
      region: conn.region,
      accessKeyId: conn.accessKeyId,
      secretAccessKey: conn.secretAccessKey,
    };
    await accounts.connections.create({ name: 'nobucket', settings: base }, system);
    await accounts.connections.create(
      { name: 'nocheck', settings: { ...base, noCheckBucket: true } },
      system,
    );
    for (const [username, connection] of [
      ['nb1', 'nobucket'],
      ['nb2', 'nocheck'],
    ] as const) {
      await accounts.users.create(
        { username, password: 'correct horse', home: { type: 's3', connection, prefix: username } },
        system,
      );
    }
    const err = await failure(login('nb1'));
    expect(err.code).toBe('Transient');
    expect(err.message).toMatch(/home folder is not reachable/);
    expect(err.message).not.toContain(base.bucket);
    await eventually(async () => {
      const [last] = await accounts.audit.list({ actor: 'nb1', kind: 'login-failed' });
      expect((last?.detail as { reason?: string })?.reason).toMatch(/home unavailable: no such bucket/);
    });
    // No check: the login succeeds (a write would then fail, as the store says).
    const s = await login('nb2');
    expect(manager.active()).toContain(s);
    await s.close();
  });

  it('a passed bucket check is trusted for a while (no HeadBucket per login); a failed one is asked again', async () => {
    const heads: string[] = [];
    const m = createSessionManager({
      accounts,
      store,
      s3ClientOptions: {
        observer: (r) => {
          if (r.operation === 'HeadBucket') heads.push(r.error ?? 'ok');
        },
      },
    });
    const one = await m.login({
      username: 'alice',
      password: 'correct horse',
      protocol: 'test',
      remote: '127.0.0.1',
    });
    const two = await m.login({
      username: 'alice',
      password: 'correct horse',
      protocol: 'test',
      remote: '127.0.0.1',
    });
    expect(heads).toEqual(['ok']);
    await Promise.all([one.close(), two.close()]);
    for (let i = 0; i < 2; i++)
      await failure(
        m.login({ username: 'nb1', password: 'correct horse', protocol: 'test', remote: '127.0.0.1' }),
      );
    expect(heads.filter((h) => h !== 'ok').length).toBeGreaterThanOrEqual(2);
    await m.shutdown(0);
  });

  it('a bandwidth limit measurably slows uploads and downloads (below 2× the limit)', async () => {
    const s = await login('slow');
    const size = 3 * MiB;
    let t = performance.now();
    await s.write('/big.bin', randomBytes(size), { size });
    const up = size / ((performance.now() - t) / 1000);
    t = performance.now();
    let got = 0;
    for await (const chunk of await s.read('/big.bin')) got += (chunk as Buffer).length;
    const down = size / ((performance.now() - t) / 1000);
    expect(got).toBe(size);
    expect(up).toBeLessThan(2 * MiB);
    expect(down).toBeLessThan(2 * MiB);
    // A read handle is throttled too.
    const h = await s.openRead('/big.bin');
    t = performance.now();
    for (let at = 0; at < size; at += MiB) await h.read(at, MiB);
    expect(size / ((performance.now() - t) / 1000)).toBeLessThan(2 * MiB);
    await h.close();
    await s.close();
  });

  it('a session holds a bounded number of write handles; close() aborts them, leaving no multipart upload', async () => {
    const m = createSessionManager({ accounts, store, limits: { maxWriteHandles: 2 } });
    const s = await m.login({
      username: 'alice',
      password: 'correct horse',
      protocol: 'test',
      remote: '127.0.0.1',
    });
    const h1 = await s.openWrite('/h1.bin');
    const h2 = await s.openWrite('/h2.bin');
    const err = await failure(s.openWrite('/h3.bin'));
    expect(err.code).toBe('Transient');
    expect(err.message).toMatch(/too many files open for writing/);
    // Multipart uploads under way (6 MiB each, 5 MiB parts).
    await h1.write(0, randomBytes(6 * MiB));
    await h2.write(0, randomBytes(6 * MiB));
    await s.close();
    const names = (await s3Objects(client, conn.bucket, `${conn.prefix}/alice`)).map((o) => o.key);
    expect(names.filter((k) => /h[12]\.bin$/.test(k))).toEqual([]);
    expect(await multipartUploads(client, conn.bucket, `${conn.prefix}/alice`)).toBe(0);
    await m.shutdown(0);
  });

  it('shutdown with uploads in flight: finished ones complete, the rest absent, no multipart upload left', async () => {
    const m = createSessionManager({ accounts, store });
    await accounts.users.create(
      {
        username: 'busy',
        password: 'correct horse',
        home: { type: 's3', connection: 'rgw', prefix: 'busy' },
      },
      system,
    );
    const s = await m.login({
      username: 'busy',
      password: 'correct horse',
      protocol: 'test',
      remote: '127.0.0.1',
    });
    // 10 uploads in flight, every handle open: 5 finish once shutdown has begun (within the
    // grace), 5 have sent 6 MiB (a multipart upload exists) and then stall past the grace.
    let release!: () => void;
    const released = new Promise<void>((r) => {
      release = r;
    });
    const finishing = async function* () {
      await released;
      yield randomBytes(MiB);
    };
    const stalling = async function* () {
      yield randomBytes(6 * MiB);
      await new Promise(() => {}); // never more
    };
    const uploads = Array.from({ length: 10 }, (_, i) =>
      i < 5
        ? s.write(`/quick${i}.bin`, Readable.from(finishing()), { size: MiB })
        : s.write(`/slow${i}.bin`, Readable.from(stalling()), { size: 12 * MiB }),
    );
    await eventually(async () => expect((s as unknown as { openWrites: number }).openWrites).toBe(10));
    await eventually(async () =>
      expect(await multipartUploads(client, conn.bucket, `${conn.prefix}/busy`)).toBe(5),
    );
    const stop = m.shutdown(3000);
    release();
    const results = await Promise.allSettled(uploads);
    await stop;
    expect(results.slice(0, 5).every((r) => r.status === 'fulfilled')).toBe(true);
    for (const r of results.slice(5)) {
      expect(r.status).toBe('rejected');
      expect(String((r as PromiseRejectedResult).reason)).toMatch(/session closed/);
      // Transient: the server went away, the client should retry (HTTP 503, not 400).
      expect((r as PromiseRejectedResult).reason).toMatchObject({ code: 'Transient' });
    }
    const objects = await s3Objects(client, conn.bucket, `${conn.prefix}/busy`);
    // Every object is complete; none of the interrupted ones exists.
    expect(objects.map((o) => [o.key.slice(conn.prefix.length + 1), o.size]).sort()).toEqual(
      [0, 1, 2, 3, 4].map((i) => [`busy/quick${i}.bin`, MiB]),
    );
    expect(await multipartUploads(client, conn.bucket, `${conn.prefix}/busy`)).toBe(0);
    expect(m.active()).toEqual([]);
    expect(
      (await failure(m.login({ username: 'busy', password: 'correct horse', protocol: 'test', remote: 'x' })))
        .message,
    ).toMatch(/shutting down/);
    // The ledger agrees with what is stored.
    expect(await createSessionManager({ accounts, store }).ledger.usage('busy')).toEqual({
      bytes: 5 * MiB,
      files: 5,
    });
  });
});
