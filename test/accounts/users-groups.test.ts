import { beforeAll, describe, expect, it } from 'vitest';
import { connectionInputSchema, userPatchSchema } from '../../src/accounts/model.js';
import type { Accounts } from '../../src/accounts/types.js';
import type { Store } from '../../src/db/database.js';
import { admin, backends, failure, manager, openTestAccounts, system, viewer } from './support.js';

const ed25519 =
  'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl alice@laptop';

/** The error a call throws, to assert code and message. */
describe.each(backends)('users, groups, mounts, effective (%s)', (backend) => {
  let accounts: Accounts;
  let store: Store;
  beforeAll(async () => {
    ({ accounts, store } = await openTestAccounts(backend));
    await accounts.connections.create(
      { name: 'main', settings: { bucket: 'homes-bucket', endpoint: 'http://127.0.0.1:1' } },
      system,
    );
    await accounts.connections.create(
      { name: 'archive', settings: { bucket: 'archive-bucket', endpoint: 'http://127.0.0.1:1' } },
      system,
    );
  });

  it('creates, reads, lists, updates and removes a user; the view has no password hash', async () => {
    const created = await accounts.users.create(
      { username: 'alice', password: 'correct horse', sshKeys: [ed25519], quota: { bytes: 1000 } },
      admin,
    );
    expect(created).toMatchObject({
      username: 'alice',
      hasPassword: true,
      enabled: true,
      groups: [],
      quota: { bytes: 1000 },
    });
    expect(JSON.stringify(created)).not.toContain('correct horse');
    expect(JSON.stringify(created)).not.toMatch(/scrypt|password_hash/);
    expect((await accounts.users.get('alice')).sshKeys).toEqual([ed25519]);
    expect((await accounts.users.list()).map((u) => u.username)).toContain('alice');

    const updated = await accounts.users.update('alice', { enabled: false, quota: { files: 5 } }, admin);
    expect(updated).toMatchObject({ enabled: false, quota: { files: 5 }, sshKeys: [ed25519] });
    // A patch changes only what it names: the password and keys are kept.
    expect(await accounts.users.verifyPassword('alice', 'correct horse')).toBeDefined();
    const cleared = await accounts.users.update('alice', { quota: null }, admin);
    expect(cleared.quota).toBeUndefined();

    // null clears: the password (no password login), the expiry; a defaulted field returns to its default.
    // Times are kept as toISOString gives them, so they compare as text.
    const expiring = await accounts.users.update(
      'alice',
      { expiresAt: '2030-01-01T00:00:00Z', groups: [] },
      admin,
    );
    expect(expiring.expiresAt).toBe('2030-01-01T00:00:00.000Z');
    const bare = await accounts.users.update(
      'alice',
      { password: null, expiresAt: null, sshKeys: null, enabled: null },
      admin,
    );
    expect(bare).toMatchObject({ hasPassword: false, sshKeys: [], enabled: true });
    expect(bare.expiresAt).toBeUndefined();
    // The schemas the API validates with add no defaults: a parsed patch is what was sent.
    expect(userPatchSchema.parse({ password: 'long enough' })).toEqual({ password: 'long enough' });
    expect(connectionInputSchema.parse({ name: 'c' }).settings).toEqual({});

    await accounts.users.remove('alice', admin);
    expect((await failure(accounts.users.get('alice'))).code).toBe('NotFound');
    expect((await failure(accounts.users.remove('alice', admin))).code).toBe('NotFound');
  });

  it('names the bad field in every refusal, and refuses duplicates', async () => {
    const short = await failure(accounts.users.create({ username: 'bob', password: 'short' }, admin));
    expect(short.code).toBe('InvalidArgument');
    expect(short.message).toContain('password: at least 8 characters');
    expect(short.message).not.toContain('short');
    expect((await failure(accounts.users.create({ username: 'Bad Name' }, admin))).message).toContain(
      'username:',
    );
    expect(
      (await failure(accounts.users.create({ username: 'bob', sshKeys: ['not a key'] }, admin))).message,
    ).toContain('sshKeys.0:');
    expect(
      (await failure(accounts.users.create({ username: 'bob', allowedIps: ['10.0.0.0/33'] }, admin))).message,
    ).toContain('allowedIps.0:');
    expect((await failure(accounts.users.create({ username: 'bob', groups: ['nope'] }, admin))).message).toBe(
      'groups: no group named nope',
    );
    expect(
      (
        await failure(
          accounts.users.create({ username: 'bob', home: { type: 's3', connection: 'nope' } }, admin),
        )
      ).message,
    ).toBe('home.connection: no connection named nope');
    expect(
      (
        await failure(
          accounts.users.create(
            { username: 'bob', home: { type: 's3', connection: 'main', prefix: 'a/../b' } },
            admin,
          ),
        )
      ).message,
    ).toContain('home.prefix:');
    expect((await failure(accounts.users.update('nobody', { enabled: true }, admin))).code).toBe('NotFound');
    await accounts.users.create({ username: 'bob' }, admin);
    const dup = await failure(accounts.users.create({ username: 'bob' }, admin));
    expect(dup.code).toBe('AlreadyExists');
    expect(dup.message).toContain('username:');
    expect(
      (await failure(accounts.groups.create({ name: 'g', quota: { bytes: -1 } }, admin))).message,
    ).toContain('quota.bytes:');
    expect(
      (
        await failure(
          accounts.mounts.create(
            { owner: { user: 'bob' }, path: 'rel', target: { type: 'local', path: '/x' } },
            admin,
          ),
        )
      ).message,
    ).toContain('path:');
    expect(
      (
        await failure(
          accounts.mounts.create(
            { owner: { user: 'ghost' }, path: '/x', target: { type: 'local', path: '/x' } },
            admin,
          ),
        )
      ).message,
    ).toBe('owner.user: no user named ghost');
    expect(
      (await failure(accounts.admins.create({ username: 'x', password: '1' }, admin))).message,
    ).toContain('password: at least 8 characters');
  });

  it('merges groups in order, then the user; mounts of groups and user; %username%; default home', async () => {
    await accounts.groups.create(
      {
        name: 'staff',
        home: { type: 's3', connection: 'archive', prefix: 'staff/%username%' },
        permissions: { '/': ['list', 'download'], '/drop': ['upload'] },
        quota: { bytes: 100, files: 10 },
        deniedIps: ['192.0.2.0/24'],
        maxSessions: 2,
      },
      admin,
    );
    await accounts.groups.create(
      { name: 'power', quota: { bytes: 500 }, deniedIps: ['198.51.100.7'], permissions: { '/drop': ['*'] } },
      admin,
    );
    await accounts.users.create(
      {
        username: 'carol',
        groups: ['staff', 'power'],
        bandwidth: { uploadBytesPerSecond: 1000 },
        setstatMode: 'refuse',
      },
      admin,
    );
    await accounts.mounts.create(
      {
        owner: { group: 'staff' },
        path: '/shared',
        target: { type: 's3', connection: 'archive', prefix: 'shared' },
        readOnly: true,
      },
      admin,
    );
    const own = await accounts.mounts.create(
      {
        owner: { user: 'carol' },
        path: '/mine',
        target: { type: 's3', connection: 'main', prefix: 'x/%username%' },
      },
      admin,
    );
    const e = await accounts.users.effective('carol');
    expect(e.home).toEqual({ type: 's3', connection: 'archive', prefix: 'staff/carol' });
    expect(e.permissions['/']).toEqual(['list', 'download']);
    // power (later) wins over staff at /drop, and `*` is expanded.
    expect(e.permissions['/drop']).toEqual([
      'list',
      'download',
      'upload',
      'overwrite',
      'delete',
      'rename',
      'mkdir',
      'set-times',
    ]);
    expect(e.quota).toEqual({ bytes: 500, files: 10 });
    expect(e.bandwidth).toEqual({ uploadBytesPerSecond: 1000 });
    expect(e.maxSessions).toBe(2);
    expect(e.deniedIps.sort()).toEqual(['192.0.2.0/24', '198.51.100.7']);
    expect(e.setstatMode).toBe('refuse');
    expect(e.mounts).toEqual([
      { path: '/mine', target: { type: 's3', connection: 'main', prefix: 'x/carol' }, readOnly: false },
      { path: '/shared', target: { type: 's3', connection: 'archive', prefix: 'shared' }, readOnly: true },
    ]);
    expect((await accounts.mounts.listFor({ user: 'carol' })).map((m) => m.id)).toEqual([own.id]);

    // The user's own home wins; with none anywhere, the default storage + username.
    await accounts.users.update('carol', { home: { type: 'local', path: '/srv/%username%' } }, admin);
    expect((await accounts.users.effective('carol')).home).toEqual({ type: 'local', path: '/srv/carol' });
    await accounts.users.create({ username: 'dave' }, admin);
    const d = await accounts.users.effective('dave');
    expect(d.home).toEqual({ type: 's3', connection: 'main', prefix: 'homes/dave' });
    expect(d.permissions).toEqual({
      '/': ['list', 'download', 'upload', 'overwrite', 'delete', 'rename', 'mkdir', 'set-times'],
    });
    expect(d.setstatMode).toBe('ignore');

    // A disabled, expired user still resolves (the session layer refuses them).
    await accounts.users.update('dave', { enabled: false, expiresAt: '2020-01-01T00:00:00Z' }, admin);
    const gone = await accounts.users.effective('dave');
    expect(gone.enabled).toBe(false);
    expect(gone.expiresAt?.toISOString()).toBe('2020-01-01T00:00:00.000Z');
    expect((await failure(accounts.users.effective('nobody'))).code).toBe('NotFound');

    // A group with members cannot go; once empty it goes with its mounts.
    const busy = await failure(accounts.groups.remove('staff', admin));
    expect(busy.code).toBe('Conflict');
    expect(busy.message).toContain('carol');
    await accounts.users.update('carol', { groups: ['power'] }, admin);
    await accounts.groups.remove('staff', admin);
    expect((await accounts.users.effective('carol')).mounts.map((m) => m.path)).toEqual(['/mine']);
    const raw = await store.db
      .selectFrom('mounts')
      .select('path')
      .where('owner_name', '=', 'staff')
      .execute();
    expect(raw).toEqual([]);
  });

  it('updates and removes mounts; a second mount at the same path is refused', async () => {
    await accounts.users.create({ username: 'erin' }, admin);
    const m = await accounts.mounts.create(
      { owner: { user: 'erin' }, path: '/in', target: { type: 'local', path: '/srv/in' } },
      admin, // a local folder is role admin's to give (review of issue 8)
    );
    expect(
      (
        await failure(
          accounts.mounts.create(
            { owner: { user: 'erin' }, path: '/in', target: { type: 'local', path: '/y' } },
            admin,
          ),
        )
      ).code,
    ).toBe('AlreadyExists');
    const moved = await accounts.mounts.update(m.id, { path: '/incoming', readOnly: true }, manager);
    expect(moved).toMatchObject({ path: '/incoming', readOnly: true, owner: { user: 'erin' } });
    expect(
      (await failure(accounts.mounts.update(m.id, { target: { type: 's3', connection: 'nope' } }, admin)))
        .message,
    ).toBe('target.connection: no connection named nope');
    const limited = await accounts.mounts.update(m.id, { permissions: ['list'] }, manager);
    expect(limited.permissions).toEqual(['list']);
    const open = await accounts.mounts.update(m.id, { permissions: null, readOnly: null }, manager);
    expect(open.permissions).toBeUndefined();
    expect(open.readOnly).toBe(false);
    expect((await failure(accounts.mounts.update(m.id, { target: null }, manager))).message).toContain(
      'target:',
    );
    await accounts.mounts.remove(m.id, manager);
    expect((await failure(accounts.mounts.get(m.id))).code).toBe('NotFound');
  });

  it('checks roles: viewer reads only, manager users/groups/mounts, admin all', async () => {
    const denied = await failure(accounts.users.create({ username: 'zed' }, viewer));
    expect(denied.code).toBe('PermissionDenied');
    expect(denied.message).toContain('viewer');
    expect((await accounts.users.list()).length).toBeGreaterThan(0); // reading is open
    await accounts.users.create({ username: 'zed' }, manager);
    await accounts.groups.create({ name: 'zgroup' }, manager);
    expect(
      (await failure(accounts.connections.create({ name: 'z', settings: { bucket: 'zzz' } }, manager))).code,
    ).toBe('PermissionDenied');
    expect(
      (await failure(accounts.admins.create({ username: 'z', password: 'long enough' }, manager))).code,
    ).toBe('PermissionDenied');
    expect((await failure(accounts.groups.remove('zgroup', viewer))).code).toBe('PermissionDenied');
    expect((await failure(accounts.defender.unban('ip:1.2.3.4', manager))).code).toBe('PermissionDenied');
    await accounts.groups.remove('zgroup', manager);
  });

  it('lists in pages, each user with their groups in order', async () => {
    await accounts.groups.create({ name: 'pa' }, admin);
    await accounts.groups.create({ name: 'pb' }, admin);
    for (const u of ['p1', 'p2', 'p3'])
      await accounts.users.create(
        { username: `page-${u}`, groups: u === 'p2' ? ['pb', 'pa'] : ['pa'] },
        admin,
      );
    const all = (await accounts.users.list({ limit: 1000 })).filter((u) => u.username.startsWith('page-'));
    expect(all.map((u) => [u.username, u.groups])).toEqual([
      ['page-p1', ['pa']],
      ['page-p2', ['pb', 'pa']],
      ['page-p3', ['pa']],
    ]);
    const names = (await accounts.users.list({ limit: 1000 })).map((u) => u.username);
    const at = names.indexOf('page-p2');
    expect((await accounts.users.list({ offset: at, limit: 1 })).map((u) => u.username)).toEqual(['page-p2']);
    expect(await accounts.users.list({ offset: 100000 })).toEqual([]);
  });

  it('records every admin change with its actor and field names, never a secret', async () => {
    await accounts.users.create({ username: 'audit-me', password: 'audit secret 123' }, manager);
    await accounts.users.update('audit-me', { password: 'another secret 456' }, admin);
    const lines = await accounts.audit.list({ kind: 'admin' });
    const mine = lines.filter((l) => l.path === 'users/audit-me');
    expect(mine.map((l) => [l.actor, l.detail?.action])).toEqual([
      ['admin:root', 'update'],
      ['admin:mia', 'create'],
    ]);
    expect(mine[0]?.detail?.fields).toEqual(['password']);
    const raw = JSON.stringify(await store.db.selectFrom('audit_log').selectAll().execute());
    expect(raw).not.toContain('audit secret 123');
    expect(raw).not.toContain('another secret 456');
  });
});
