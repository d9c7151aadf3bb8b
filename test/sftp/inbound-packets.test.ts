import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SftpTestServer, sftpBatch, startSftpServer } from '../support/sftp.js';

const MiB = 1024 * 1024;
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/**
 * Decrypted SSH packets (src/protocols/sftp/inbound-packets.ts): an upload's packets that straddle
 * two socket reads are joined in one buffer per connection instead of a new one each (they were
 * 30–37 MiB of garbage awaiting the GC with 20 uploads), and only when every byte was copied out.
 */
describe('SFTP: decrypted packet buffers reused', () => {
  let server: SftpTestServer;
  let dir: string;
  beforeAll(async () => {
    server = await startSftpServer({ flags: { storage: mkdtempSync(join(tmpdir(), 'ferry-inpkt-home-')) } });
    dir = mkdtempSync(join(tmpdir(), 'ferry-inpkt-'));
  });
  afterAll(async () => {
    await server?.close();
  });

  it("ssh2's deciphers still join a straddling packet the way inbound-packets.ts relies on", () => {
    const require = createRequire(import.meta.url);
    const src = readFileSync(require.resolve('ssh2/lib/protocol/crypto.js'), 'utf8');
    expect(src).toContain('const MAX_PACKET_SIZE = 35000;');
    for (const cls of ['ChaChaPolyDecipherBinding', 'AESGCMDecipherBinding']) {
      const body = src.slice(
        src.indexOf(`class ${cls} {`),
        src.indexOf('\nclass ', src.indexOf(`class ${cls} {`) + 1),
      );
      expect(body, cls).toMatch(/if \(!this\._packet\)\s+this\._packet = Buffer\.allocUnsafe\(this\._len\);/);
      expect(body.match(/this\._packet\b/g)?.length, cls).toBe(11); // no other use crept in
      expect(body, cls).toContain('const ret = this._onPayload(payload);');
    }
  });

  it('uploads (chacha and aes-gcm, rekey every 1 MiB, small WRITEs lent as views) allocate no packet per straddle and are byte-identical', async () => {
    const cases = [
      { cipher: 'chacha20-poly1305@openssh.com', extra: [] as string[] },
      { cipher: 'aes128-gcm@openssh.com', extra: [] as string[] },
      // 8 KiB WRITEs: each in one SSH packet, lent to the handle as a view (its buffer not reused).
      { cipher: 'chacha20-poly1305@openssh.com', extra: ['-B', '8192'] },
    ];
    const original = Buffer.allocUnsafe;
    let joined = 0;
    Buffer.allocUnsafe = ((n: number) => {
      // Called by the decipher itself (the handlers below it allocate too: join and part buffers).
      if (n >= 16 * 1024 && new Error().stack?.split('\n')[2]?.includes('DecipherBinding.decrypt')) joined++;
      return original(n);
    }) as typeof Buffer.allocUnsafe;
    try {
      for (const [i, c] of cases.entries()) {
        const body = randomBytes(16 * MiB + 1234 * i);
        writeFileSync(join(dir, `up-${i}.bin`), body);
        joined = 0;
        const put = await sftpBatch(
          server,
          server.user,
          [`put up-${i}.bin f-${i}.bin`, `get f-${i}.bin down-${i}.bin`],
          {
            cwd: dir,
            extra: ['-o', 'RekeyLimit=1M', '-c', c.cipher, ...c.extra],
          },
        );
        expect(put.stderr, c.cipher).toBe('');
        expect(sha(readFileSync(join(dir, `down-${i}.bin`))), `${c.cipher} ${c.extra}`).toBe(sha(body));
        // 16 MiB is ~520 packets of 32 KiB, about a third straddling two socket reads (319 joined in
        // new buffers before). A spare let go is replaced by allocUnsafeSlow (not counted here).
        if (c.extra.length === 0) expect(joined, c.cipher).toBeLessThanOrEqual(2);
      }
    } finally {
      Buffer.allocUnsafe = original;
    }
  }, 120_000);
});
