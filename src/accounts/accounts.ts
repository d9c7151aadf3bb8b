import type { Store } from '../db/database.js';
import { StorageError } from '../storage/errors.js';
import { StoreAdminService } from './admins.js';
import { StoreApiKeyService } from './api-keys.js';
import { StoreAuditLog } from './audit-log.js';
import { StoreChangeFeed } from './change-feed.js';
import { StoreConnectionService } from './connections.js';
import type { AccountsContext } from './context.js';
import { type DefenderOptions, StoreDefender } from './defender.js';
import { StoreGroupService } from './groups.js';
import { StoreLoginSessions } from './login-sessions.js';
import { type StorageTarget, storageTargetSchema } from './model.js';
import { StoreMountService } from './mounts.js';
import { verifyPassword } from './passwords.js';
import { SecretBox } from './secret-box.js';
import type { Accounts } from './types.js';
import { StoreUserService } from './users.js';
import { parseInput } from './validation.js';

export interface AccountsOptions {
  /** 32 bytes: seals connection secrets (secret-box.ts). The same on every node. */
  secretKey: Buffer;
  /** Where a user without a home (own or inherited) lives: this + `/<username>`. */
  defaultHome: StorageTarget;
  defender?: DefenderOptions;
  /** SQLite: how often other processes' changes are looked for (ms, default 1000). */
  changePollMs?: number;
}

/** The name of the secret key's check value in `server_keys`. */
const KEY_CHECK = 'secret-key-check';

/**
 * Open the account services on a store (database.ts `openStore`). The first start records a
 * check value of the secret key; a later start with another key is refused here, before any
 * secret could be mis-decrypted. `close()` stops the change feed; the store stays open (its
 * owner closes it).
 */
export async function openAccounts(store: Store, options: AccountsOptions): Promise<Accounts> {
  const box = new SecretBox(options.secretKey);
  const defaultHome = parseInput(storageTargetSchema, options.defaultHome, 'defaultHome');
  await checkSecretKey(store, box);
  // Computes the dummy hash now, so the first login of an unknown name costs one hash, not two.
  await verifyPassword('', undefined);
  const changes = await StoreChangeFeed.open(store, options.changePollMs ?? 1000);
  const ctx: AccountsContext = {
    db: store.db,
    box,
    audit: new StoreAuditLog(store.db),
    changes,
    defaultHome,
  };
  const users = new StoreUserService(ctx);
  const admins = new StoreAdminService(ctx);
  return {
    users,
    groups: new StoreGroupService(ctx),
    connections: new StoreConnectionService(ctx),
    mounts: new StoreMountService(ctx),
    admins,
    apiKeys: new StoreApiKeyService(ctx, admins, users),
    loginSessions: new StoreLoginSessions(store.db),
    defender: new StoreDefender(ctx, options.defender),
    audit: ctx.audit,
    changes,
    close: () => changes.close(),
  };
}

async function checkSecretKey(store: Store, box: SecretBox): Promise<void> {
  // Insert-if-absent then read back: of several nodes starting at once, one value wins for all.
  await store.db
    .insertInto('server_keys')
    .values({ name: KEY_CHECK, value: box.checkValue(), created_at: new Date().toISOString() })
    .onConflict((oc) => oc.column('name').doNothing())
    .execute();
  const row = await store.db
    .selectFrom('server_keys')
    .select('value')
    .where('name', '=', KEY_CHECK)
    .executeTakeFirst();
  if (!row || !box.matches(row.value))
    throw new StorageError(
      'InvalidArgument',
      `secretKey: the secret key does not match the one this store (${store.display}) was created with`,
    );
}

/**
 * A secret key as configuration gives it: 64 hex characters or base64 of 32 bytes. The value is
 * never echoed in the error.
 */
export function parseSecretKey(text: string, field = 'secretKey'): Buffer {
  const t = text.trim();
  const hex = /^[0-9a-fA-F]{64}$/.test(t);
  const key = hex ? Buffer.from(t, 'hex') : Buffer.from(t, 'base64');
  if (key.length !== 32 || (!hex && key.toString('base64') !== t))
    throw new StorageError(
      'InvalidArgument',
      `${field}: must be 32 bytes, as 64 hex or 44 base64 characters`,
    );
  return key;
}
