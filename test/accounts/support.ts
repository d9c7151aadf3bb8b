import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import type { AccountsOptions } from '../../src/accounts/accounts.js';
import { openAccounts } from '../../src/accounts/accounts.js';
import type { Accounts, Actor } from '../../src/accounts/types.js';
import { openStore, type Store } from '../../src/db/database.js';
import { StorageError } from '../../src/storage/errors.js';
import { freshPostgresUrl } from '../support/postgres.js';

/** The two stores every account test runs on. */
export const backends = ['sqlite', 'postgres'] as const;
export type Backend = (typeof backends)[number];

/** A fresh, empty store location of this kind (a temp SQLite file or a new PostgreSQL database). */
export async function freshLocation(backend: Backend): Promise<string> {
  if (backend === 'postgres') return freshPostgresUrl();
  return join(mkdtempSync(join(tmpdir(), 'ferry-accounts-')), 'ferry.db');
}

export const system: Actor = { kind: 'system', name: 'system', role: 'admin' };
export const admin: Actor = { kind: 'admin', name: 'root', role: 'admin' };
export const manager: Actor = { kind: 'admin', name: 'mia', role: 'manager' };
export const viewer: Actor = { kind: 'admin', name: 'vic', role: 'viewer' };

export const defaultHome = { type: 's3', connection: 'main', prefix: 'homes' } as const;

/**
 * Open accounts on a fresh store of `backend`, closed after the file's tests. Returns the store
 * too, for reading raw rows.
 */
export async function openTestAccounts(
  backend: Backend,
  options: Partial<AccountsOptions> = {},
): Promise<{ accounts: Accounts; store: Store; location: string; key: Buffer }> {
  const location = await freshLocation(backend);
  const store = await openStore(location);
  const key = options.secretKey ?? randomBytes(32);
  const accounts = await openAccounts(store, { secretKey: key, defaultHome, changePollMs: 100, ...options });
  afterAll(async () => {
    await accounts.close();
    await store.close();
  });
  return { accounts, store, location, key };
}

/** The StorageError `p` fails with; anything else it throws is thrown, and success is an error. */
export async function failure(p: Promise<unknown>): Promise<StorageError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof StorageError) return err;
    throw err;
  }
  throw new Error('expected the call to fail');
}
