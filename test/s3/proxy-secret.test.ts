import { describe, expect, it } from 'vitest';
import { admin, openTestAccounts } from '../accounts/support.js';
import { TEST_BUCKET } from '../support/s3.js';

/**
 * Issue 10 item 8: a named connection's proxy password is a secret like the secret key: the URL
 * given with `user:password@` is stored without it, the password is sealed (`proxyPassword`,
 * listed in secretsSet), never in a view, a raw settings column or the audit log, and back in
 * clear only where the S3 client is made (`resolve`).
 */
describe('the proxy password of a named connection (sqlite store)', () => {
  it('is sealed and never shown; resolve gives it back', async () => {
    const { accounts, store } = await openTestAccounts('sqlite');
    const password = 'Pr0xy-secret-in-store';
    const view = await accounts.connections.create(
      {
        name: 'proxied',
        settings: {
          bucket: TEST_BUCKET,
          proxy: `http://squid:${encodeURIComponent(password)}@proxy.example:3128`,
        },
      },
      admin,
    );
    expect(view.settings.proxy).toBe('http://squid@proxy.example:3128');
    expect(view.secretsSet).toEqual(['proxyPassword']);
    const row = await store.db
      .selectFrom('connections')
      .selectAll()
      .where('name', '=', 'proxied')
      .executeTakeFirstOrThrow();
    const audit = JSON.stringify(await store.db.selectFrom('audit_log').selectAll().execute());
    for (const text of [
      JSON.stringify(view),
      JSON.stringify(await accounts.connections.list()),
      row.settings,
      row.secrets ?? '',
      audit,
    ])
      expect(text).not.toContain(password);
    const conn = await accounts.connections.resolve('proxied');
    expect(conn.proxy).toBe('http://squid@proxy.example:3128');
    expect(conn.proxyPassword).toBe(password);
  });
});
