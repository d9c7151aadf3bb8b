import { createHash } from 'node:crypto';
import ssh2 from 'ssh2';
import type { SecretBox } from '../accounts/secret-box.js';
import type { Store } from '../db/database.js';

const { utils } = ssh2;

/** The host key types every node presents, in the order they are offered. */
const HOST_KEY_TYPES = [
  { name: 'ed25519', generate: () => utils.generateKeyPairSync('ed25519') },
  { name: 'ecdsa', generate: () => utils.generateKeyPairSync('ecdsa', { bits: 256 }) },
  { name: 'rsa', generate: () => utils.generateKeyPairSync('rsa', { bits: 3072 }) },
] as const;

export interface HostKey {
  type: string;
  /** The private key, OpenSSH format (what ssh2's Server takes). */
  privateKey: string;
  /** `SHA256:…` as `ssh-keygen -lf` and OpenSSH clients print it. */
  fingerprint: string;
}

/**
 * The SSH host keys of this server: ed25519, ECDSA P-256 and RSA 3072, generated on the first
 * start and kept in the store's `server_keys` table (`ssh-host-key:TYPE`), sealed with the
 * server's secret key, so every node on one store presents the same keys. Of several nodes
 * starting at once each may generate a key, but only the first insert is kept (insert-if-absent)
 * and every node uses what it reads back.
 */
export async function loadHostKeys(store: Store, box: SecretBox): Promise<HostKey[]> {
  const keys: HostKey[] = [];
  for (const { name, generate } of HOST_KEY_TYPES) {
    const row = `ssh-host-key:${name}`;
    let sealed = await read(store, row);
    if (!sealed) {
      await store.db
        .insertInto('server_keys')
        .values({ name: row, value: box.seal(generate().private, row), created_at: new Date().toISOString() })
        .onConflict((oc) => oc.column('name').doNothing())
        .execute();
      sealed = await read(store, row);
      if (!sealed) throw new Error(`host key ${name}: not in the store after inserting it`);
    }
    const privateKey = box.open(sealed, row);
    keys.push({ type: name, privateKey, fingerprint: fingerprint(privateKey) });
  }
  return keys;
}

async function read(store: Store, name: string): Promise<string | undefined> {
  const r = await store.db
    .selectFrom('server_keys')
    .select('value')
    .where('name', '=', name)
    .executeTakeFirst();
  return r?.value;
}

function fingerprint(privateKey: string): string {
  const parsed = utils.parseKey(privateKey);
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (!key || key instanceof Error) throw new Error('a stored host key does not parse');
  const digest = createHash('sha256').update(key.getPublicSSH()).digest('base64').replace(/=+$/, '');
  return `SHA256:${digest}`;
}
