import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import ssh2 from 'ssh2';
import type { SecretBox } from '../accounts/secret-box.js';
import type { Store } from '../db/database.js';

const { utils } = ssh2;

/**
 * Off the event loop (libuv's thread pool): an RSA 3072 key takes 0.5–4 s of CPU, during which
 * the rest of the start-up goes on. ssh2 (1.16) writes about 1 in 200 ed25519 keys with a 31-byte
 * public key (a leading zero byte dropped), which it then cannot read back: a key is only kept
 * once it parses.
 */
export async function generateHostKey(type: 'ed25519' | 'ecdsa' | 'rsa', bits?: number): Promise<string> {
  const generate = promisify(utils.generateKeyPair) as (
    t: string,
    o: { bits?: number },
  ) => Promise<{ private: string }>;
  for (let attempt = 0; attempt < 10; attempt++) {
    const { private: privateKey } = await generate(type, { bits });
    if (parse(privateKey)) return privateKey;
  }
  throw new Error(`host key ${type}: ten generated keys in a row did not parse`);
}

/** The host key types every node presents, in the order they are offered. */
const HOST_KEY_TYPES = [
  { name: 'ed25519', generate: () => generateHostKey('ed25519') },
  { name: 'ecdsa', generate: () => generateHostKey('ecdsa', 256) },
  { name: 'rsa', generate: () => generateHostKey('rsa', 3072) },
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
 * and every node uses what it reads back. A stored key that does not parse (written by an older
 * Ferry hit by ssh2's ed25519 bug) kept the server from starting, so no client ever saw it: it is
 * replaced.
 */
export async function loadHostKeys(store: Store, box: SecretBox): Promise<HostKey[]> {
  return Promise.all(HOST_KEY_TYPES.map(({ name, generate }) => loadHostKey(store, box, name, generate)));
}

async function loadHostKey(
  store: Store,
  box: SecretBox,
  name: string,
  generate: () => Promise<string>,
): Promise<HostKey> {
  const row = `ssh-host-key:${name}`;
  let sealed = await read(store, row);
  if (sealed && !parse(box.open(sealed, row))) {
    await store.db.deleteFrom('server_keys').where('name', '=', row).where('value', '=', sealed).execute();
    sealed = undefined;
  }
  if (!sealed) {
    const privateKey = await generate();
    await store.db
      .insertInto('server_keys')
      .values({ name: row, value: box.seal(privateKey, row), created_at: new Date().toISOString() })
      .onConflict((oc) => oc.column('name').doNothing())
      .execute();
    sealed = await read(store, row);
    if (!sealed) throw new Error(`host key ${name}: not in the store after inserting it`);
  }
  const privateKey = box.open(sealed, row);
  const key = parse(privateKey);
  if (!key) throw new Error(`host key ${name}: the stored key does not parse`);
  return { type: name, privateKey, fingerprint: fingerprint(key) };
}

async function read(store: Store, name: string): Promise<string | undefined> {
  const r = await store.db
    .selectFrom('server_keys')
    .select('value')
    .where('name', '=', name)
    .executeTakeFirst();
  return r?.value;
}

type ParsedKey = Exclude<ReturnType<typeof utils.parseKey>, Error | unknown[]>;

function parse(privateKey: string): ParsedKey | undefined {
  const parsed = utils.parseKey(privateKey);
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  return !key || key instanceof Error ? undefined : (key as ParsedKey);
}

function fingerprint(key: ParsedKey): string {
  const digest = createHash('sha256').update(key.getPublicSSH()).digest('base64').replace(/=+$/, '');
  return `SHA256:${digest}`;
}
