import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dataReplyStats } from '../../src/protocols/sftp/data-reply.js';
import { type SftpTestServer, sftpBatch, startSftpServer } from '../support/sftp.js';

const MiB = 1024 * 1024;
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/**
 * `sftp.ciphers` limited to AES-CTR: no AEAD cipher, so a MAC is negotiated, the inbound packet
 * buffer is not reused (inbound-packets.ts leaves ssh2's other deciphers alone) and the packet
 * pool is not used, but READ replies still go straight into SSH packets (data-reply.ts) through
 * ssh2's own packet layout with room for the MAC. Uploads and downloads must be byte-identical
 * with an encrypt-then-MAC and a plain MAC.
 */
describe('sftp.ciphers: AES-CTR only', () => {
  let server: SftpTestServer;
  let dir: string;
  beforeAll(async () => {
    server = await startSftpServer({ env: { FERRY_SFTP__CIPHERS: 'aes256-ctr, aes128-ctr' } });
    dir = mkdtempSync(join(tmpdir(), 'ferry-rv-ctr-'));
  });
  afterAll(async () => {
    await server?.close();
  });

  it('put and get through aes128-ctr + hmac-sha2-256-etm and aes256-ctr + hmac-sha2-512: byte-identical, replies straight into packets', async () => {
    for (const [i, [cipher, mac]] of [
      ['aes128-ctr', 'hmac-sha2-256-etm@openssh.com'],
      ['aes256-ctr', 'hmac-sha2-512'],
    ].entries()) {
      const body = randomBytes(6 * MiB + 4097 * (i + 1));
      writeFileSync(join(dir, `up-${i}.bin`), body);
      const before = dataReplyStats.direct;
      const r = await sftpBatch(
        server,
        server.user,
        [`put up-${i}.bin ctr-${i}.bin`, `get ctr-${i}.bin down-${i}.bin`],
        {
          cwd: dir,
          extra: ['-c', cipher!, '-o', `MACs=${mac}`],
        },
      );
      expect([r.code, r.stderr], `${cipher} ${mac}`).toEqual([0, '']);
      expect(sha(readFileSync(join(dir, `down-${i}.bin`))), `${cipher} ${mac}`).toBe(sha(body));
      expect(dataReplyStats.direct - before, 'replies sent straight into packets').toBeGreaterThan(10);
    }
  }, 180_000);
});
