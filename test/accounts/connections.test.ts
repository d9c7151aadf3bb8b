import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { openAccounts } from '../../src/accounts/accounts.js';
import type { Accounts } from '../../src/accounts/types.js';
import { openStore, type Store } from '../../src/db/database.js';
import { createS3Client } from '../../src/s3/client.js';
import { checkedStorage } from '../../src/storage/checked.js';
import { S3Storage } from '../../src/storage/s3/s3-storage.js';
import { credentialUrl, TEST_BUCKET, testS3 } from '../support/s3.js';
import { admin, backends, defaultHome, failure, openTestAccounts, system } from './support.js';

const sseKey = randomBytes(32).toString('base64');

describe.each(backends)('connections and secrets at rest (%s)', (backend) => {
  let accounts: Accounts;
  let store: Store;
  let location: string;
  let key: Buffer;
  const prefix = `t-${randomBytes(4).toString('hex')}`;
  beforeAll(async () => {
    ({ accounts, store, location, key } = await openTestAccounts(backend));
  });

  it('takes bucket, prefix and keys from the URL; the secret is sealed, listed in secretsSet, never shown', async () => {
    const s3 = testS3();
    const url = credentialUrl(s3, `${TEST_BUCKET}/${prefix}`);
    const view = await accounts.connections.create(
      {
        name: 'main',
        url,
        showPartialUploads: true,
        settings: { region: 'us-east-1', sseCustomerKey: sseKey },
      },
      admin,
    );
    expect(view.settings).toMatchObject({
      bucket: TEST_BUCKET,
      prefix,
      endpoint: s3.endpoint,
      accessKeyId: s3.accessKeyId,
    });
    expect(view.secretsSet.sort()).toEqual(['secretAccessKey', 'sseCustomerKey']);
    expect(view.showPartialUploads).toBe(true);
    const shown = JSON.stringify([
      view,
      await accounts.connections.list(),
      await accounts.connections.get('main'),
    ]);
    expect(shown).not.toContain(s3.secretAccessKey);
    expect(shown).not.toContain(sseKey);

    // The raw row: settings in clear without secrets, secrets sealed (not even base64 of them).
    const row = await store.db
      .selectFrom('connections')
      .selectAll()
      .where('name', '=', 'main')
      .executeTakeFirstOrThrow();
    expect(row.settings).toContain(TEST_BUCKET);
    for (const col of [row.settings, row.secrets ?? '']) {
      expect(col).not.toContain(s3.secretAccessKey);
      expect(col).not.toContain(sseKey);
      expect(col).not.toContain(Buffer.from(s3.secretAccessKey).toString('base64'));
    }
    expect(row.secrets).toMatch(/^v1:/);
    const audit = JSON.stringify(await store.db.selectFrom('audit_log').selectAll().execute());
    expect(audit).not.toContain(s3.secretAccessKey);
    expect(audit).not.toContain(sseKey);
  });

  it('resolve gives the whole connection, which reaches the real S3 server', async () => {
    const conn = await accounts.connections.resolve('main');
    expect(conn.secretAccessKey).toBe(testS3().secretAccessKey);
    expect(conn.showPartialUploads).toBe(true);
    const storage = checkedStorage(new S3Storage(createS3Client(conn), conn));
    await storage.write('hello.txt', Buffer.from('hi'));
    expect((await storage.stat('hello.txt')).size).toBe(2);
    await storage.remove('hello.txt');
  });

  it('a patch keeps the secrets it does not name; null clears one; the URL replaces the location', async () => {
    const s3 = testS3();
    await accounts.connections.update(
      'main',
      { showPartialUploads: false, settings: { storageClass: 'STANDARD' } },
      admin,
    );
    let conn = await accounts.connections.resolve('main');
    expect(conn).toMatchObject({
      showPartialUploads: false,
      storageClass: 'STANDARD',
      sseCustomerKey: sseKey,
    });
    expect(conn.secretAccessKey).toBe(s3.secretAccessKey);
    await accounts.connections.update('main', { settings: { sseCustomerKey: null } }, admin);
    conn = await accounts.connections.resolve('main');
    expect(conn.sseCustomerKey).toBeUndefined();
    expect((await accounts.connections.get('main')).secretsSet).toEqual(['secretAccessKey']);
    await accounts.connections.update('main', { url: `s3://${TEST_BUCKET}/elsewhere` }, admin);
    conn = await accounts.connections.resolve('main');
    expect(conn).toMatchObject({
      bucket: TEST_BUCKET,
      prefix: 'elsewhere',
      secretAccessKey: s3.secretAccessKey,
    });
    await accounts.connections.update('main', { url: credentialUrl(s3, `${TEST_BUCKET}/${prefix}`) }, admin);
    expect((await accounts.connections.resolve('main')).prefix).toBe(prefix);
  });

  it('names the bad field and never echoes a secret in an error', async () => {
    const noBucket = await failure(accounts.connections.create({ name: 'x', settings: {} }, admin));
    expect(noBucket.code).toBe('InvalidArgument');
    expect(noBucket.message).toContain('settings.bucket:');
    const badUrl = await failure(
      accounts.connections.create({ name: 'x', url: 'http://AKID:TOPSECRETVALUE@host/bucket' }, admin),
    );
    expect(badUrl.message).toContain('url:');
    expect(badUrl.message).not.toContain('TOPSECRETVALUE');
    const badSse = await failure(
      accounts.connections.create(
        { name: 'x', settings: { bucket: 'bucket', sseCustomerKey: 'TOOSHORTSECRET' } },
        admin,
      ),
    );
    expect(badSse.message).toContain('settings.sseCustomerKey:');
    expect(badSse.message).not.toContain('TOOSHORTSECRET');
    expect(
      (await failure(accounts.connections.create({ name: 'Main!', settings: { bucket: 'abc' } }, admin)))
        .message,
    ).toContain('name:');
    expect(
      (await failure(accounts.connections.create({ name: 'main', settings: { bucket: 'abc' } }, admin))).code,
    ).toBe('AlreadyExists');
    expect((await failure(accounts.connections.resolve('nope'))).code).toBe('NotFound');
  });

  it('refuses to remove a connection in use, naming who uses it', async () => {
    await accounts.connections.create({ name: 'spare', settings: { bucket: 'spare-bucket' } }, admin);
    await accounts.users.create({ username: 'uma', home: { type: 's3', connection: 'spare' } }, admin);
    await accounts.groups.create({ name: 'gina', home: { type: 's3', connection: 'spare' } }, admin);
    await accounts.users.create({ username: 'vera' }, admin);
    await accounts.mounts.create(
      { owner: { user: 'vera' }, path: '/m', target: { type: 's3', connection: 'spare' } },
      admin,
    );
    const inUse = await failure(accounts.connections.remove('spare', admin));
    expect(inUse.code).toBe('Conflict');
    expect(inUse.message).toContain('user uma');
    expect(inUse.message).toContain('group gina');
    expect(inUse.message).toContain('mount /m of user vera');
    // `main` is the server's default storage (support.ts defaultHome).
    expect((await failure(accounts.connections.remove('main', admin))).message).toContain(
      "the server's default storage",
    );
    await accounts.users.remove('uma', admin);
    await accounts.users.remove('vera', admin);
    await accounts.groups.remove('gina', admin);
    await accounts.connections.remove('spare', admin);
    expect((await failure(accounts.connections.get('spare'))).code).toBe('NotFound');
  });

  it('a wrong secret key is refused at start; the right one opens the sealed secrets again', async () => {
    const other = await openStore(location);
    try {
      const wrong = await failure(
        openAccounts(other, { secretKey: randomBytes(32), defaultHome, changePollMs: 100 }),
      );
      expect(wrong.code).toBe('InvalidArgument');
      expect(wrong.message).toContain('the secret key does not match the one this store');
      expect(
        (await failure(openAccounts(other, { secretKey: Buffer.alloc(16), defaultHome }))).message,
      ).toContain('secretKey: must be 32 bytes');
      const again = await openAccounts(other, { secretKey: key, defaultHome, changePollMs: 100 });
      expect((await again.connections.resolve('main')).secretAccessKey).toBe(testS3().secretAccessKey);
      await again.close();
    } finally {
      await other.close();
    }
  });

  it('a sealed value moved to another connection does not open there', async () => {
    await accounts.connections.create(
      {
        name: 'decoy',
        settings: { bucket: 'decoy-bucket', secretAccessKey: 'x'.repeat(40), accessKeyId: 'AK' },
      },
      system,
    );
    const main = await store.db
      .selectFrom('connections')
      .select('secrets')
      .where('name', '=', 'main')
      .executeTakeFirstOrThrow();
    await store.db
      .updateTable('connections')
      .set({ secrets: main.secrets })
      .where('name', '=', 'decoy')
      .execute();
    const moved = await failure(accounts.connections.resolve('decoy'));
    expect(moved.message).toContain('cannot be decrypted');
    // Views need no decryption: one unreadable row does not break the listing.
    expect((await accounts.connections.get('decoy')).secretsSet).toEqual(['secretAccessKey']);
    expect((await accounts.connections.list()).map((c) => c.name)).toContain('decoy');
  });
});
