import { openAccounts, parseSecretKey } from '../accounts/accounts.js';
import type { StorageTarget } from '../accounts/model.js';
import { SecretBox } from '../accounts/secret-box.js';
import type { Accounts } from '../accounts/types.js';
import { openStore, type Store } from '../db/database.js';
import { parseS3Url } from '../s3/url.js';
import type { DefaultStorage, ServerConfig } from './config.js';
import type { DataDir } from './data-dir.js';

/** The connection an `s3://` `--storage` is saved as. */
export const DEFAULT_CONNECTION = 'default';

/** The store and the account services on it, as `ferry serve` and the local admin CLI open them. */
export interface Services {
  store: Store;
  accounts: Accounts;
  /** Seals the server's own secrets in the store (host keys), with the same key as the accounts. */
  box: SecretBox;
  close(): Promise<void>;
}

/**
 * Open the store named by the configuration (migrating it) and the account services on it, with
 * the data folder's secret key and the server's default home. The secret key is checked against
 * the one the store was created with (accounts.ts): a wrong key fails here, naming its source.
 */
export async function openServices(config: ServerConfig, dataDir: DataDir): Promise<Services> {
  const keyField =
    dataDir.secretKeySource === 'config'
      ? 'secretKey (FERRY_SECRET_KEY or the configuration)'
      : `${dataDir.path}/secret.key`;
  const secretKey = parseSecretKey(dataDir.secretKey, keyField);
  const store = await openStore(config.database, config.databaseTimeouts);
  try {
    const accounts = await openAccounts(store, {
      secretKey,
      defaultHome: defaultHome(config.storage),
      defender: config.defender,
    });
    return {
      store,
      accounts,
      box: new SecretBox(secretKey),
      close: async () => {
        await accounts.close();
        await store.close();
      },
    };
  } catch (err) {
    await store.close();
    throw err;
  }
}

/** Where users without a home of their own live (the username is appended by the accounts). */
export function defaultHome(storage: DefaultStorage): StorageTarget {
  switch (storage.type) {
    case 'local':
      return { type: 'local', path: storage.path };
    case 's3':
      return { type: 's3', connection: DEFAULT_CONNECTION, prefix: parseS3Url(storage.url).key };
    case 'connection':
      return { type: 's3', connection: storage.name, prefix: storage.prefix };
  }
}
