import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openStore } from '../../src/db/database.js';
import { freshPostgresUrl } from '../support/postgres.js';
import { exec, type SftpTestServer, startSftpServer } from '../support/sftp.js';

/** The host keys a server presents, as `ssh-keyscan` sees them: `type base64` lines, sorted. */
async function scan(s: SftpTestServer): Promise<string[]> {
  const r = await exec('ssh-keyscan', ['-p', String(s.port), '-t', 'ed25519,ecdsa,rsa', s.host]);
  expect(r.code).toBe(0);
  return r.stdout
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => l.split(' ').slice(1, 3).join(' '))
    .sort();
}

describe('SSH host keys: generated once, kept in the store, the same on every node', () => {
  it('ed25519, ECDSA P-256 and RSA 3072 are presented; a restart on the same data presents the same keys', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-hostkeys-'));
    const data = join(dir, 'data');
    const first = await startSftpServer({ flags: { data }, user: { username: 'n1' } });
    const keys = await scan(first);
    await first.close();
    expect(keys.map((k) => k.split(' ')[0])).toEqual(['ecdsa-sha2-nistp256', 'ssh-ed25519', 'ssh-rsa']);
    const second = await startSftpServer({ flags: { data }, user: { username: 'n2' } });
    try {
      expect(await scan(second)).toEqual(keys);
    } finally {
      await second.close();
    }
    // Sealed in the store: no private key in clear.
    const store = await openStore(join(data, 'ferry.db'));
    try {
      const rows = await store.db
        .selectFrom('server_keys')
        .selectAll()
        .where('name', 'like', 'ssh-host-key:%')
        .execute();
      expect(rows.map((r) => r.name).sort()).toEqual([
        'ssh-host-key:ecdsa',
        'ssh-host-key:ed25519',
        'ssh-host-key:rsa',
      ]);
      for (const r of rows) {
        expect(r.value).toMatch(/^v1:/);
        expect(r.value).not.toContain('PRIVATE KEY');
      }
    } finally {
      await store.close();
    }
  });

  it('two nodes started at once on one PostgreSQL present the same keys (RSA 3072 bits)', async () => {
    const database = await freshPostgresUrl();
    const secretKey = randomBytes(32).toString('hex');
    const [a, b] = await Promise.all([
      startSftpServer({ flags: { database, secretKey }, user: { username: 'node-a-user' } }),
      startSftpServer({ flags: { database, secretKey }, user: { username: 'node-b-user' } }),
    ]);
    try {
      const keysA = await scan(a);
      expect(keysA).toHaveLength(3);
      expect(await scan(b)).toEqual(keysA);
      const rsaLine = keysA.find((k) => k.startsWith('ssh-rsa')) as string;
      const dir = mkdtempSync(join(tmpdir(), 'ferry-hostkeys-'));
      writeFileSync(join(dir, 'rsa.pub'), `${rsaLine}\n`);
      const fp = await exec('ssh-keygen', ['-lf', join(dir, 'rsa.pub')]);
      expect(fp.stdout).toMatch(/^3072 SHA256:/);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});
