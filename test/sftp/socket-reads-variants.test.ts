import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { socketReads } from '../../src/protocols/sftp/socket-reads.js';
import { runScp, type SftpTestServer, sftpBatch, startSftpServer } from '../support/sftp.js';

const MiB = 1024 * 1024;
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/**
 * The reused socket read buffer (socket-reads.ts) under what its review (docs/notes/issue-9.md,
 * "Session 9: review of raw GETs and socket reads") named: a non-AEAD cipher, many WRITEs in
 * flight, small and large WRITEs, scp -O, several uploads at once with rekeys — every upload read
 * back byte for byte.
 */
describe('SFTP: socket reads in a reused buffer, upload variants', () => {
  let server: SftpTestServer;
  let dir: string;
  beforeAll(async () => {
    server = await startSftpServer({ flags: { storage: mkdtempSync(join(tmpdir(), 'ferry-sockrd-home-')) } });
    dir = mkdtempSync(join(tmpdir(), 'ferry-sockrd-'));
  });
  afterAll(async () => {
    await server?.close();
  });

  it('sftp uploads with aes-ctr+hmac, chacha and aes-gcm, -R/-B variants, four at once, rekey every 512 KiB, are byte-identical', async () => {
    const cases = [
      ['-c', 'aes128-ctr', '-o', 'MACs=hmac-sha2-256'],
      ['-c', 'chacha20-poly1305@openssh.com', '-R', '256', '-B', '32768'],
      ['-c', 'aes256-gcm@openssh.com', '-B', '1000'],
      ['-c', 'chacha20-poly1305@openssh.com', '-B', '200000', '-R', '4'],
    ];
    const before = { ...socketReads };
    const bodies = cases.map((_, i) => randomBytes(6 * MiB + 4321 * i));
    for (const [i, b] of bodies.entries()) writeFileSync(join(dir, `v-${i}.bin`), b);
    const puts = await Promise.all(
      cases.map((extra, i) =>
        sftpBatch(server, server.user, [`put v-${i}.bin v-${i}.bin`], {
          cwd: dir,
          extra: ['-o', 'RekeyLimit=512K', ...extra],
        }),
      ),
    );
    for (const [i, put] of puts.entries()) expect(put.stderr, cases[i]!.join(' ')).toBe('');
    for (const [i] of cases.entries()) {
      const get = await sftpBatch(server, server.user, [`get v-${i}.bin back-${i}.bin`], { cwd: dir });
      expect(get.stderr).toBe('');
      expect(sha(readFileSync(join(dir, `back-${i}.bin`))), cases[i]!.join(' ')).toBe(sha(bodies[i]!));
    }
    expect(socketReads.inPlace - before.inPlace).toBeGreaterThan(50); // the reuse was exercised
    expect(socketReads.declined - before.declined).toBe(0); // this Node offered the internals
  }, 240_000);

  it('scp -O uploads (chacha) are byte-identical', async () => {
    const body = randomBytes(5 * MiB + 77);
    writeFileSync(join(dir, 'scp.bin'), body);
    const up = await runScp(server, [
      '-O',
      '-c',
      'chacha20-poly1305@openssh.com',
      '-o',
      'RekeyLimit=512K',
      join(dir, 'scp.bin'),
      `${server.destination}:/scp.bin`,
    ]);
    expect(up.stderr).toBe('');
    const get = await sftpBatch(server, server.user, ['get scp.bin scp-back.bin'], { cwd: dir });
    expect(get.stderr).toBe('');
    expect(sha(readFileSync(join(dir, 'scp-back.bin')))).toBe(sha(body));
  }, 120_000);
});
