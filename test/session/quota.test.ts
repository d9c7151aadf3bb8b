import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { StorageError } from '../../src/storage/errors.js';
import { suiteFixture } from '../support/suite.js';
import { poolFor, rgwSessionParts, sessionFor, userWith } from './support.js';

const MiB = 1024 * 1024;

/**
 * The quota ledger against real S3 (RGW): a home on a connection whose prefix is `conn.prefix`,
 * the user's home prefix below it. Multipart from 5 MiB, so 6 MiB files go up in parts and a
 * refused or failed upload has a multipart upload to clean away.
 */
describe('quota ledger on RGW', () => {
  const rgw = suiteFixture(rgwSessionParts);

  function quotaSession(username: string, quota: { bytes?: number; files?: number }) {
    const pool = poolFor({ main: rgw.conn });
    const user = userWith({ username, home: { type: 's3', connection: 'main', prefix: username }, quota });
    return sessionFor(user, { store: rgw.store, pool });
  }

  it('20 concurrent uploads that together exceed the quota: the ledger equals what is in S3, no multipart upload left', async () => {
    const quota = 50 * MiB;
    const { session, ledger } = quotaSession('q20', { bytes: quota });
    const size = 6 * MiB;
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) => session.write(`/up/f${i}.bin`, randomBytes(size), { size })),
    );
    const ok = results.filter((r) => r.status === 'fulfilled').length;
    const refused = results.filter(
      (r) => r.status === 'rejected' && StorageError.is(r.reason, 'QuotaExceeded'),
    ).length;
    expect(ok + refused).toBe(20); // every one either stored or refused for the quota
    expect(ok).toBe(Math.floor(quota / size));
    const objects = await rgw.objects('q20');
    const stored = objects.reduce((n, o) => n + o.size, 0);
    expect(objects.length).toBe(ok);
    expect(await ledger.usage('q20')).toEqual({ bytes: stored, files: objects.length });
    expect(stored).toBeLessThanOrEqual(quota);
    expect(await rgw.uploads('q20')).toBe(0);
    // The session's space figures come from the ledger.
    expect(await session.about('/')).toEqual({ total: quota, used: stored, free: quota - stored });
  });

  it('a failed upload charges nothing and leaves nothing', async () => {
    const { session, ledger } = quotaSession('qfail', { bytes: 100 * MiB });
    async function* breaks() {
      yield randomBytes(6 * MiB);
      yield randomBytes(2 * MiB);
      throw new Error('client went away');
    }
    await expect(session.write('/broken.bin', Readable.from(breaks()))).rejects.toThrow(/client went away/);
    expect(await ledger.usage('qfail')).toEqual({ bytes: 0, files: 0 });
    expect(await rgw.objects('qfail')).toEqual([]);
    expect(await rgw.uploads('qfail')).toBe(0);
  });

  it('a huge upload stops early, once its bytes pass what is left', async () => {
    const { session, ledger } = quotaSession('qhuge', { bytes: 3 * MiB });
    let sent = 0;
    async function* huge() {
      for (let i = 0; i < 64; i++) {
        sent += MiB;
        yield Buffer.alloc(MiB, i);
      }
    }
    await expect(session.write('/huge.bin', Readable.from(huge()))).rejects.toMatchObject({
      code: 'QuotaExceeded',
    });
    expect(sent).toBeLessThan(8 * MiB);
    expect(await ledger.usage('qhuge')).toEqual({ bytes: 0, files: 0 });
    expect(await rgw.uploads('qhuge')).toBe(0);
  });

  it('overwrites charge the difference, copies charge, deletes and replacing renames credit, files are counted; recompute', async () => {
    const { session, ledger } = quotaSession('qmix', { bytes: 10 * MiB, files: 3 });
    await session.write('/a.txt', 'x'.repeat(1000));
    await session.write('/b.txt', 'y'.repeat(500));
    expect(await ledger.usage('qmix')).toEqual({ bytes: 1500, files: 2 });
    await session.write('/a.txt', 'x'.repeat(200)); // overwrite: −800
    expect(await ledger.usage('qmix')).toEqual({ bytes: 700, files: 2 });
    await session.copy('/a.txt', '/c.txt');
    expect(await ledger.usage('qmix')).toEqual({ bytes: 900, files: 3 });
    await expect(session.write('/d.txt', 'z')).rejects.toThrow(/files: 3 of 3/);
    await session.remove('/b.txt');
    expect(await ledger.usage('qmix')).toEqual({ bytes: 400, files: 2 });
    await session.rename('/c.txt', '/a.txt'); // replaces a.txt: one file and its bytes go
    expect(await ledger.usage('qmix')).toEqual({ bytes: 200, files: 1 });
    // recompute agrees with the ledger kept step by step.
    const home = await poolFor({ main: rgw.conn }).get({
      type: 's3',
      connection: 'main',
      prefix: 'qmix',
    });
    await ledger.set('qmix', { bytes: 12345, files: 9 });
    expect(await ledger.recompute('qmix', home)).toEqual({ bytes: 200, files: 1 });
    expect(await ledger.usage('qmix')).toEqual({ bytes: 200, files: 1 });
  });

  it('the reservation is atomic: two ledgers on one store never both take the last bytes', async () => {
    const { ledger } = quotaSession('qatomic', { bytes: 100 });
    const tries = await Promise.allSettled(
      Array.from({ length: 10 }, () => ledger.reserve('qatomic', { bytes: 30, files: 1 }, { bytes: 100 })),
    );
    expect(tries.filter((t) => t.status === 'fulfilled').length).toBe(3);
    expect(await ledger.usage('qatomic')).toEqual({ bytes: 90, files: 3 });
  });

  it('moving a folder between the home (RGW) and a local mount credits and charges the ledger; over the quota nothing moves', async () => {
    const local = mkdtempSync(join(tmpdir(), 'ferry-quota-mount-'));
    const pool = poolFor({ main: rgw.conn });
    const user = userWith({
      username: 'qmove',
      home: { type: 's3', connection: 'main', prefix: 'qmove' },
      quota: { bytes: 1000 },
      mounts: [{ path: '/m', target: { type: 'local', path: local }, readOnly: false }],
    });
    const { session, ledger } = sessionFor(user, { store: rgw.store, pool });
    await session.write('/dir/a.txt', 'a'.repeat(300));
    await session.write('/dir/sub/b.txt', 'b'.repeat(200));
    expect(await ledger.usage('qmove')).toEqual({ bytes: 500, files: 2 });
    await session.rename('/dir', '/m/dir');
    expect(await ledger.usage('qmove')).toEqual({ bytes: 0, files: 0 });
    expect(readFileSync(join(local, 'dir', 'sub', 'b.txt'), 'utf8')).toBe('b'.repeat(200));
    expect(await rgw.objects('qmove')).toEqual([]);
    // Fill the home, then moving the folder back would pass the quota: refused, nothing moved.
    await session.write('/fill.bin', 'f'.repeat(800));
    await expect(session.rename('/m/dir', '/back')).rejects.toMatchObject({ code: 'QuotaExceeded' });
    expect(readFileSync(join(local, 'dir', 'a.txt'), 'utf8')).toBe('a'.repeat(300));
    expect(await ledger.usage('qmove')).toEqual({ bytes: 800, files: 1 });
    await session.remove('/fill.bin');
    await session.rename('/m/dir', '/back');
    expect(await ledger.usage('qmove')).toEqual({ bytes: 500, files: 2 });
    expect((await rgw.objects('qmove')).map((o) => o.key).sort()).toEqual([
      `${rgw.conn.prefix}/qmove/back/`, // the folder's marker (moveByCopy makes the target folder)
      `${rgw.conn.prefix}/qmove/back/a.txt`,
      `${rgw.conn.prefix}/qmove/back/sub/b.txt`,
    ]);
  });
});
