import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { PermissionName } from '../../src/accounts/model.js';
import { readAll } from '../support/collect.js';
import { suiteFixture } from '../support/suite.js';
import { poolFor, rgwSessionParts, sessionFor, userWith } from './support.js';

const MiB = 1024 * 1024;

/** Session.openWrite in `update` mode (SFTP OPEN without TRUNC) on a home in RGW. */
describe('session write handles in update mode (RGW home)', () => {
  const rgw = suiteFixture(rgwSessionParts);

  function sessionWith(username: string, permissions?: PermissionName[]) {
    const pool = poolFor({ main: rgw.conn });
    const user = userWith({
      username,
      home: { type: 's3', connection: 'main', prefix: username },
      quota: { bytes: 100 * MiB },
      ...(permissions ? { permissions: { '/': permissions } } : {}),
    });
    return sessionFor(user, { store: rgw.store, pool });
  }

  it('a write or a truncate far past the end is refused (no terabyte of zeros), a small gap is fine; nothing is left', async () => {
    const { session } = sessionWith('upd-gap');
    const far = await session.openWrite('/gap.bin', { mode: 'update' });
    await expect(far.write(2 ** 40, Buffer.from('x'))).rejects.toMatchObject({
      code: 'InvalidArgument',
      message: expect.stringMatching(/past the end of \/gap\.bin .*stored as zeros/),
    });
    const grow = await session.openWrite('/grow.bin', { mode: 'update' });
    await grow.write(0, Buffer.from('abc'));
    await expect(grow.truncate!(2 ** 40)).rejects.toMatchObject({ code: 'InvalidArgument' });
    const near = await session.openWrite('/near.bin', { mode: 'truncate' });
    await near.write(MiB, Buffer.from('y'));
    expect((await near.close()).size).toBe(MiB + 1);
    expect(await rgw.uploads('upd-gap')).toBe(0);
    const keys = (await rgw.objects('upd-gap')).map((o) => o.key);
    expect(keys).toEqual([`${rgw.conn.prefix}/upd-gap/near.bin`]);
  });

  it('the ledger counts the final size minus the old one: rewrites cost nothing, a reput its new bytes, a new file one file', async () => {
    const { session, ledger } = sessionWith('upd-quota');
    const old = randomBytes(6 * MiB);
    await session.write('/f.bin', old);
    expect(await ledger.usage('upd-quota')).toEqual({ bytes: old.length, files: 1 });

    const rewrite = await session.openWrite('/f.bin', { mode: 'update' });
    await rewrite.write(100, randomBytes(1000)); // over existing bytes only
    expect((await rewrite.close()).size).toBe(old.length);
    expect(await ledger.usage('upd-quota')).toEqual({ bytes: old.length, files: 1 });

    const reput = await session.openWrite('/f.bin', { mode: 'update' });
    await reput.write(old.length, randomBytes(2 * MiB));
    expect((await reput.close()).size).toBe(old.length + 2 * MiB);
    expect(await ledger.usage('upd-quota')).toEqual({ bytes: old.length + 2 * MiB, files: 1 });

    const created = await session.openWrite('/new.txt', { mode: 'update' });
    await created.write(0, Buffer.from('hello'));
    await created.close();
    const objects = await rgw.objects('upd-quota');
    expect(await ledger.usage('upd-quota')).toEqual({
      bytes: objects.reduce((n, o) => n + o.size, 0),
      files: objects.length,
    });
    expect(await rgw.uploads('upd-quota')).toBe(0);
  });

  it('read returns the bytes as they are now and is counted as a download', async () => {
    const { session, events } = sessionWith('upd-read');
    await session.write('/r.txt', 'hello world');
    const h = await session.openWrite('/r.txt', { mode: 'update' });
    expect(typeof h.read).toBe('function');
    await h.write(0, Buffer.from('HELLO'));
    expect((await h.read!(0, 100)).toString()).toBe('HELLO world');
    await h.close();
    expect(events.filter((e) => e.kind === 'download' && e.path === '/r.txt')).toMatchObject([
      { result: 'ok', bytes: 11 },
    ]);
    expect((await readAll(await session.read('/r.txt'))).toString()).toBe('HELLO world');
    // A truncating handle has no read.
    const t = await session.openWrite('/r.txt');
    expect(t.read).toBeUndefined();
    await t.abort();
  });

  it('permissions: update of an existing file needs overwrite (a new one upload); read needs download, and a refused read leaves the handle open', async () => {
    const admin = sessionWith('upd-perm').session;
    await admin.write('/kept.txt', 'old bytes');

    const uploadOnly = sessionWith('upd-perm', ['list', 'upload']).session;
    await expect(uploadOnly.openWrite('/kept.txt', { mode: 'update' })).rejects.toMatchObject({
      code: 'PermissionDenied',
    });
    const fresh = await uploadOnly.openWrite('/fresh.txt', { mode: 'update' });
    await fresh.write(0, Buffer.from('x'));
    await fresh.close();

    const noDownload = sessionWith('upd-perm', ['list', 'upload', 'overwrite']).session;
    const h = await noDownload.openWrite('/kept.txt', { mode: 'update' });
    await expect(h.read!(0, 10)).rejects.toMatchObject({ code: 'PermissionDenied' });
    await h.write(9, Buffer.from(' and new')); // a reput still works
    await h.close();
    expect((await readAll(await admin.read('/kept.txt'))).toString()).toBe('old bytes and new');
  });
});
