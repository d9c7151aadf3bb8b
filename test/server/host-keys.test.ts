import { randomBytes } from 'node:crypto';
import ssh2 from 'ssh2';
import { afterAll, describe, expect, it } from 'vitest';
import { SecretBox } from '../../src/accounts/secret-box.js';
import { openStore } from '../../src/db/database.js';
import { generateHostKey, loadHostKeys } from '../../src/server/host-keys.js';
import { freshLocation } from '../accounts/support.js';

const parses = (key: string) => {
  const parsed = ssh2.utils.parseKey(key);
  const one = Array.isArray(parsed) ? parsed[0] : parsed;
  return !!one && !(one instanceof Error);
};

describe('SSH host keys', () => {
  it('every generated ed25519 key parses (ssh2 writes ~1 in 200 with a 31-byte public key)', async () => {
    // 1,000 keys: before the fix, the chance that none is malformed is under 1 %.
    const keys = await Promise.all(Array.from({ length: 1000 }, () => generateHostKey('ed25519')));
    const bad = keys.filter((k) => !parses(k));
    expect(bad).toEqual([]);
  });

  it('a stored key that does not parse is replaced; the kept keys stay the same across starts', async () => {
    const store = await openStore(await freshLocation('sqlite'));
    afterAll(() => store.close());
    const box = new SecretBox(randomBytes(32));
    // A key as ssh2 sometimes wrote it: the public key one byte short.
    const malformed = [
      '-----BEGIN OPENSSH PRIVATE KEY-----',
      'b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMgAAAAtz',
      'c2gtZWQyNTUxOQAAAB/RSPYNOeGrWjvEiRvLeOgc0PR4yCMBkqOcTpCyKx1JAAAA',
      'iMjf4qHI3+KhAAAAC3NzaC1lZDI1NTE5AAAAH9FI9g054ataO8SJG8t46BzQ9HjI',
      'IwGSo5xOkLIrHUkAAAA/8zwLfKvAvgk60KtBBMub+7KlsnX0ZOHkYu4lRCffe+PR',
      'SPYNOeGrWjvEiRvLeOgc0PR4yCMBkqOcTpCyKx1JAAAAAAECAwQFBgc=',
      '-----END OPENSSH PRIVATE KEY-----',
      '',
    ].join('\n');
    expect(parses(malformed)).toBe(false);
    const row = 'ssh-host-key:ed25519';
    await store.db
      .insertInto('server_keys')
      .values({ name: row, value: box.seal(malformed, row), created_at: new Date().toISOString() })
      .execute();

    const first = await loadHostKeys(store, box);
    expect(first.map((k) => k.type)).toEqual(['ed25519', 'ecdsa', 'rsa']);
    for (const k of first) {
      expect(parses(k.privateKey)).toBe(true);
      expect(k.fingerprint).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    }
    expect(first[0]?.privateKey).not.toBe(malformed);
    const again = await loadHostKeys(store, box);
    expect(again.map((k) => k.fingerprint)).toEqual(first.map((k) => k.fingerprint));
  });
});
