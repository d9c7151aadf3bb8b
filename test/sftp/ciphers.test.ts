import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadServerConfig } from '../../src/server/config.js';
import { exec, type SftpTestServer, startSftpServer } from '../support/sftp.js';

/**
 * `sftp.ciphers`: the ciphers the server offers (SFTPGo's `ciphers`). OpenSSH takes its own first
 * choice the server also offers, so a server can only steer a client by what it leaves out. The
 * default offer keeps chacha20-poly1305 (OpenSSH's first choice).
 */
describe('sftp.ciphers', () => {
  let byDefault: SftpTestServer;
  let gcmOnly: SftpTestServer;
  beforeAll(async () => {
    byDefault = await startSftpServer();
    gcmOnly = await startSftpServer({
      env: { FERRY_SFTP__CIPHERS: 'aes128-gcm@openssh.com, aes256-gcm@openssh.com' },
    });
  });
  afterAll(async () => {
    await byDefault?.close();
    await gcmOnly?.close();
  });

  /** An OpenSSH `sftp` batch (`pwd`), verbose; the cipher the client negotiated for its sends. */
  const login = async (s: SftpTestServer, extra: string[] = []) => {
    const r = await exec('sftp', ['-v', ...s.sftpArgs, ...extra, '-b', '-', s.destination], {
      input: 'pwd\n',
    });
    const cipher = /kex: client->server cipher: (\S+)/.exec(r.stderr)?.[1];
    return { ...r, cipher };
  };

  it('by default OpenSSH gets its first choice, chacha20-poly1305', async () => {
    const r = await login(byDefault);
    expect(r.code, r.stderr.slice(-500)).toBe(0);
    expect(r.cipher).toBe('chacha20-poly1305@openssh.com');
  });

  it('a server offering only AES-GCM: OpenSSH uses aes128-gcm; a client asking for chacha20 only is refused', async () => {
    const r = await login(gcmOnly);
    expect(r.code, r.stderr.slice(-500)).toBe(0);
    expect(r.stdout).toContain('Remote working directory: /');
    expect(r.cipher).toBe('aes128-gcm@openssh.com');
    const chacha = await login(gcmOnly, ['-c', 'chacha20-poly1305@openssh.com']);
    expect(chacha.code).not.toBe(0);
    expect(chacha.stderr).toMatch(/no matching cipher found/);
  });

  it('an unknown, unsafe or repeated cipher name is a clear configuration error', () => {
    for (const [value, bad] of [
      ['aes128-cbc', 'aes128-cbc'],
      ['aes128-gcm@openssh.com,arcfour', 'arcfour'],
      ['aes128-ctr,aes128-ctr', 'aes128-ctr'],
    ] as const) {
      expect(() => loadServerConfig({}, { FERRY_SFTP__CIPHERS: value }, '/tmp')).toThrow(
        new RegExp(`FERRY_SFTP__CIPHERS: .*${bad}`),
      );
    }
    expect(() => loadServerConfig({}, { FERRY_SFTP__CIPHERS: ' , ' }, '/tmp')).toThrow(
      /FERRY_SFTP__CIPHERS: /,
    );
    expect(loadServerConfig({}, {}, '/tmp').sftp.ciphers).toBeUndefined();
    expect(
      loadServerConfig({}, { FERRY_SFTP__CIPHERS: 'chacha20-poly1305@openssh.com' }, '/tmp').sftp.ciphers,
    ).toEqual(['chacha20-poly1305@openssh.com']);
  });
});
