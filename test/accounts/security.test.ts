import { beforeAll, describe, expect, it } from 'vitest';
import { parseSecretKey } from '../../src/accounts/accounts.js';
import { hashPassword, verifyPassword } from '../../src/accounts/passwords.js';
import type { Accounts } from '../../src/accounts/types.js';
import type { Store } from '../../src/db/database.js';
import { admin, backends, failure, manager, openTestAccounts, system, viewer } from './support.js';

describe('parseSecretKey', () => {
  it('reads 64 hex or 44 base64 characters and refuses anything else without echoing it', () => {
    const key = Buffer.alloc(32, 7);
    expect(parseSecretKey(key.toString('hex'))).toEqual(key);
    expect(parseSecretKey(` ${key.toString('base64')}\n`)).toEqual(key);
    for (const bad of [
      'abcd',
      key.toString('hex').slice(2),
      `${key.toString('base64')}xx`,
      'not base64 at all!!',
    ]) {
      let message = '';
      try {
        parseSecretKey(bad, 'FERRY_SECRET_KEY');
      } catch (err) {
        message = (err as Error).message;
      }
      expect(message).toBe('FERRY_SECRET_KEY: must be 32 bytes, as 64 hex or 44 base64 characters');
    }
  });
});

describe('password hashes', () => {
  it('are salted scrypt strings with their parameters, and verify only the right password', async () => {
    const a = await hashPassword('same password');
    const b = await hashPassword('same password');
    expect(a).toMatch(/^scrypt\$16384\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
    expect(a).not.toBe(b);
    expect(await verifyPassword('same password', a)).toBe(true);
    expect(await verifyPassword('same passwore', a)).toBe(false);
    // No stored hash (unknown user): still false, after hashing against a dummy.
    expect(await verifyPassword('same password', undefined)).toBe(false);
    expect(await verifyPassword('', null)).toBe(false);
  });
});

describe.each(backends)('logins, API keys, sessions, defender (%s)', (backend) => {
  let accounts: Accounts;
  let store: Store;
  beforeAll(async () => {
    ({ accounts, store } = await openTestAccounts(backend, {
      defender: { maxFailures: 3, windowSeconds: 60, banSeconds: 2 },
    }));
    await accounts.connections.create({ name: 'main', settings: { bucket: 'homes-bucket' } }, system);
    await accounts.users.create({ username: 'alice', password: 'alice password' }, system);
    await accounts.admins.create({ username: 'root', password: 'root password', role: 'admin' }, system);
  });

  it('verifies user and admin passwords; unknown names and users without a password fail alike', async () => {
    expect((await accounts.users.verifyPassword('alice', 'alice password'))?.username).toBe('alice');
    expect(await accounts.users.verifyPassword('alice', 'wrong password')).toBeUndefined();
    expect(await accounts.users.verifyPassword('nobody', 'alice password')).toBeUndefined();
    await accounts.users.create({ username: 'keyonly' }, system);
    expect(await accounts.users.verifyPassword('keyonly', '')).toBeUndefined();
    expect((await accounts.admins.verifyPassword('root', 'root password'))?.role).toBe('admin');
    expect(await accounts.admins.verifyPassword('root', 'alice password')).toBeUndefined();
    expect(await accounts.admins.isEmpty()).toBe(false);
    const row = await store.db
      .selectFrom('users')
      .select('password_hash')
      .where('username', '=', 'alice')
      .executeTakeFirstOrThrow();
    expect(row.password_hash).toMatch(/^scrypt\$/);
    expect(row.password_hash).not.toContain('alice password');
  });

  it('verifies SSH public keys by their blob', async () => {
    const blob = 'AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl';
    await accounts.users.update('alice', { sshKeys: [`ssh-ed25519 ${blob} laptop`] }, admin);
    expect(
      (await accounts.users.verifyPublicKey('alice', 'ssh-ed25519', Buffer.from(blob, 'base64')))?.username,
    ).toBe('alice');
    const other = Buffer.from(blob, 'base64');
    other.writeUInt8(other.readUInt8(other.length - 1) ^ 1, other.length - 1);
    expect(await accounts.users.verifyPublicKey('alice', 'ssh-ed25519', other)).toBeUndefined();
    expect(
      await accounts.users.verifyPublicKey('nobody', 'ssh-ed25519', Buffer.from(blob, 'base64')),
    ).toBeUndefined();
  });

  it('API keys: shown once, only a hash stored, verified, expired and removed keys refused', async () => {
    const { key, secret } = await accounts.apiKeys.create({ name: 'ci', owner: { admin: 'root' } }, admin);
    expect(secret).toMatch(/^ferry_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    expect(secret).toContain(key.id);
    const raw = JSON.stringify(await store.db.selectFrom('api_keys').selectAll().execute());
    expect(raw).not.toContain(secret.split('_').slice(2).join('_'));
    const ok = await accounts.apiKeys.verify(secret);
    expect(ok?.admin?.username).toBe('root');
    expect(ok?.key.lastUsedAt).toBeDefined();
    expect((await accounts.apiKeys.get(key.id)).lastUsedAt).toBeDefined();
    // One changed character of the secret, an unknown id, garbage: all refused.
    const flipped = secret.slice(0, -1) + (secret.endsWith('A') ? 'B' : 'A');
    expect(await accounts.apiKeys.verify(flipped)).toBeUndefined();
    expect(await accounts.apiKeys.verify(`ferry_0000000000000000_${secret.slice(-43)}`)).toBeUndefined();
    expect(await accounts.apiKeys.verify('not a key')).toBeUndefined();

    const user = await accounts.apiKeys.create({ name: 'script', owner: { user: 'alice' } }, manager);
    expect((await accounts.apiKeys.verify(user.secret))?.user?.username).toBe('alice');
    const expired = await accounts.apiKeys.create(
      { name: 'old', owner: { user: 'alice' }, expiresAt: '2020-01-01T00:00:00Z' },
      admin,
    );
    expect(await accounts.apiKeys.verify(expired.secret)).toBeUndefined();
    expect((await accounts.apiKeys.list({ user: 'alice' })).map((k) => k.name).sort()).toEqual([
      'old',
      'script',
    ]);
    expect(
      (await failure(accounts.apiKeys.create({ name: 'x', owner: { admin: 'root' } }, manager))).code,
    ).toBe('PermissionDenied');
    expect(
      (await failure(accounts.apiKeys.create({ name: 'x', owner: { user: 'ghost' } }, admin))).message,
    ).toBe('owner.user: no user named ghost');
    expect(
      (await failure(accounts.apiKeys.create({ name: '', owner: { user: 'alice' } }, admin))).message,
    ).toContain('name:');
    await accounts.apiKeys.remove(key.id, admin);
    expect(await accounts.apiKeys.verify(secret)).toBeUndefined();
    expect((await failure(accounts.apiKeys.remove(user.key.id, viewer))).code).toBe('PermissionDenied');
  });

  it('login sessions: only the token hash is stored; expired and removed tokens are refused', async () => {
    const token = await accounts.loginSessions.create('admin', 'root', 60);
    expect(await accounts.loginSessions.verify(token)).toEqual({ kind: 'admin', subject: 'root' });
    const raw = JSON.stringify(await store.db.selectFrom('login_sessions').selectAll().execute());
    expect(raw).not.toContain(token);
    expect(await accounts.loginSessions.verify(`${token}x`)).toBeUndefined();
    await accounts.loginSessions.remove(token);
    expect(await accounts.loginSessions.verify(token)).toBeUndefined();
    const short = await accounts.loginSessions.create('user', 'alice', 0.001);
    await new Promise((r) => setTimeout(r, 20));
    expect(await accounts.loginSessions.verify(short)).toBeUndefined();
  });

  it('defender: N failures ban the address and the user until the ban ends; success clears failures', async () => {
    expect(await accounts.defender.bannedUntil('203.0.113.5', 'alice')).toBeUndefined();
    await accounts.defender.failed('203.0.113.5', 'alice');
    await accounts.defender.failed('203.0.113.5', 'alice');
    expect(await accounts.defender.bannedUntil('203.0.113.5', 'alice')).toBeUndefined();
    await accounts.defender.succeeded('203.0.113.5', 'alice');
    await accounts.defender.failed('203.0.113.5', 'alice');
    await accounts.defender.failed('203.0.113.5', 'alice');
    expect(await accounts.defender.bannedUntil('203.0.113.5', 'alice')).toBeUndefined(); // counted from 0 again
    await accounts.defender.failed('203.0.113.5', 'alice');
    const until = await accounts.defender.bannedUntil('203.0.113.5');
    expect(until!.getTime()).toBeGreaterThan(Date.now());
    // The user is banned from another address too; another user from this address too.
    expect(await accounts.defender.bannedUntil('198.51.100.1', 'alice')).toBeDefined();
    expect(await accounts.defender.bannedUntil('203.0.113.5', 'bob')).toBeDefined();
    expect(await accounts.defender.bannedUntil('198.51.100.1', 'bob')).toBeUndefined();
    expect((await accounts.defender.list()).map((e) => e.key)).toEqual(['ip:203.0.113.5', 'user:alice']);
    // A success while banned does not lift the ban; the ban ends by itself (2 s here).
    await accounts.defender.succeeded('203.0.113.5', 'alice');
    expect(await accounts.defender.bannedUntil('203.0.113.5')).toBeDefined();
    await new Promise((r) => setTimeout(r, until!.getTime() - Date.now() + 50));
    expect(await accounts.defender.bannedUntil('203.0.113.5', 'alice')).toBeUndefined();
  });

  it('defender: an admin lifts a ban, recorded in the audit log', async () => {
    for (let i = 0; i < 3; i++) await accounts.defender.failed('192.0.2.9');
    expect(await accounts.defender.bannedUntil('192.0.2.9')).toBeDefined();
    expect((await failure(accounts.defender.unban('ip:192.0.2.9', viewer))).code).toBe('PermissionDenied');
    await accounts.defender.unban('ip:192.0.2.9', admin);
    expect(await accounts.defender.bannedUntil('192.0.2.9')).toBeUndefined();
    const line = (await accounts.audit.list({ kind: 'admin', actor: 'admin:root' }))[0];
    expect(line).toMatchObject({ path: 'defender/ip:192.0.2.9', detail: { action: 'unban' } });
  });

  it('keeps one admin with role admin', async () => {
    expect((await failure(accounts.admins.remove('root', admin))).code).toBe('Conflict');
    expect((await failure(accounts.admins.update('root', { role: 'viewer' }, admin))).code).toBe('Conflict');
    await accounts.admins.create({ username: 'vic', password: 'viewer password', role: 'viewer' }, admin);
    // A viewer may change their own password and nothing else.
    await accounts.admins.update('vic', { password: 'new viewer password' }, viewer);
    expect(await accounts.admins.verifyPassword('vic', 'new viewer password')).toBeDefined();
    expect((await failure(accounts.admins.update('vic', { role: 'admin' }, viewer))).code).toBe(
      'PermissionDenied',
    );
  });
});
