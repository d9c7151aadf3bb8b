import { connect as tcpConnect } from 'node:net';
import type { SFTPWrapper } from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  connectSsh,
  exec,
  type SftpTestServer,
  type SftpUser,
  startSftpServer,
  waitFor,
} from '../support/sftp.js';

/** What an ssh2 Client reports when every method it tried was refused. */
const AUTH_FAILED = 'client-authentication: All configured authentication methods failed';

/** Keyboard-interactive only, answering every prompt with `answer`; records the prompts. */
function keyboardOnly(username: string, answer: string, seen: string[] = []) {
  return {
    username,
    authHandler: [
      {
        type: 'keyboard-interactive' as const,
        username,
        prompt: (
          _name: string,
          _instructions: string,
          _lang: string,
          prompts: { prompt: string; echo?: boolean }[],
          finish: (answers: string[]) => void,
        ) => {
          for (const p of prompts) seen.push(`${p.prompt}|echo=${p.echo}`);
          finish(prompts.map(() => answer));
        },
      },
    ],
  };
}

describe('SSH authentication', () => {
  let s: SftpTestServer;
  let carol: SftpUser;
  let dave: SftpUser;
  beforeAll(async () => {
    // Many failures below from one address: the ban has its own test (and server).
    s = await startSftpServer({ env: { FERRY_DEFENDER__MAX_FAILURES: '100' } });
    carol = await s.addUser('carol', { enabled: false });
    dave = await s.addUser('dave', { maxSessions: 1 });
  });
  afterAll(async () => {
    await s?.close();
  });
  const at = () => ({ host: s.host, port: s.port });

  it('keyboard-interactive: one "Password:" prompt (not echoed) leads to the same login', async () => {
    const seen: string[] = [];
    const ok = await connectSsh({ ...at(), ...keyboardOnly('alice', s.user.password, seen) });
    if (!('client' in ok)) throw new Error(ok.error);
    expect(seen).toEqual(['Password: |echo=false']);
    ok.client.end();
    const bad = await connectSsh({ ...at(), ...keyboardOnly('alice', 'not-the-password') });
    expect(bad).toEqual({ error: AUTH_FAILED });
  });

  it('wrong password, unknown user and disabled user fail the same way; no session opens', async () => {
    expect((await s.server.accounts.users.get('carol')).enabled).toBe(false);
    const attempts = [
      { username: 'alice', password: 'wrong-password-123' },
      { username: 'nobody-here', password: 'wrong-password-123' },
      // carol's password is right, but the account is disabled:
      { username: 'carol', password: carol.password },
    ];
    for (const a of attempts) {
      expect(await connectSsh({ ...at(), ...a }), a.username).toEqual({ error: AUTH_FAILED });
    }
    expect(s.server.sessions.active()).toHaveLength(0);
  });

  it('beyond max sessions the login is a clean authentication failure; it works again after', async () => {
    const login = { ...at(), username: 'dave', password: dave.password };
    const first = await connectSsh(login);
    if (!('client' in first)) throw new Error(first.error);
    expect(await connectSsh(login)).toEqual({ error: AUTH_FAILED });
    first.client.end();
    await waitFor(() => !s.server.sessions.active().some((x) => x.user.username === 'dave'));
    const again = await connectSsh(login);
    if (!('client' in again)) throw new Error(again.error);
    again.client.end();
  });
  it('a client offering only weak algorithms is refused (cbc, sha1 MACs, sha1 key exchange)', async () => {
    const weak = [
      { cipher: ['aes128-cbc', '3des-cbc'] },
      { hmac: ['hmac-sha1', 'hmac-md5'], cipher: ['aes128-ctr'] },
      { kex: ['diffie-hellman-group14-sha1', 'diffie-hellman-group1-sha1'] },
      { serverHostKey: ['ssh-dss'] },
    ];
    for (const algorithms of weak) {
      const r = await connectSsh({
        ...at(),
        username: 'alice',
        password: s.user.password,
        algorithms: algorithms as never,
      });
      expect('error' in r, JSON.stringify(algorithms)).toBe(true);
      expect((r as { error: string }).error).toMatch(/^handshake: Handshake failed: no matching/);
    }
    // OpenSSH with only CBC ciphers, and only SHA-1 MACs (LogLevel first: the first -o wins).
    const cbc = await exec('ssh', [
      '-o',
      'LogLevel=INFO',
      ...s.sshArgs,
      '-o',
      'Ciphers=aes128-cbc,aes256-cbc',
      s.destination,
      'md5sum',
    ]);
    expect(cbc.code).toBe(255);
    expect(cbc.stderr).toMatch(/no matching cipher found/);
    const sha1 = await exec('ssh', [
      '-o',
      'LogLevel=INFO',
      ...s.sshArgs,
      '-o',
      'Ciphers=aes128-ctr',
      '-o',
      'MACs=hmac-sha1',
      s.destination,
      'md5sum',
    ]);
    expect(sha1.code).toBe(255);
    expect(sha1.stderr).toMatch(/no matching MAC found/);
  });

  it('the server offers modern algorithms only, AES-GCM first', async () => {
    const r = await exec('ssh', [...s.sshArgs, '-vv', s.destination, 'exit-not-allowed']);
    const offer = r.stderr.split('\n').filter((l) => l.includes('peer server KEXINIT proposal'));
    expect(offer.length).toBeGreaterThan(0);
    const lines = r.stderr.split('\n');
    const from = lines.findIndex((l) => l.includes('peer server KEXINIT proposal'));
    const proposal = lines.slice(from, from + 12).join('\n');
    expect(proposal).toMatch(/ciphers ctos: aes128-gcm@openssh.com,aes256-gcm@openssh.com,chacha20/);
    expect(proposal).not.toMatch(/cbc|arcfour|hmac-sha1|hmac-md5|group1-sha1|group14-sha1|ssh-dss/);
  });
});

describe('SSH: the defender (bans) and timeouts', () => {
  let s: SftpTestServer;
  beforeAll(async () => {
    s = await startSftpServer({
      env: {
        FERRY_DEFENDER__MAX_FAILURES: '3',
        FERRY_SFTP__IDLE_TIMEOUT_SECONDS: '1',
        FERRY_SFTP__LOGIN_GRACE_SECONDS: '2',
        FERRY_SFTP__BANNER: 'Authorized use only.',
      },
    });
  });
  afterAll(async () => {
    await s?.close();
  });
  const at = () => ({ host: s.host, port: s.port });

  it('the banner is shown before login', async () => {
    const banners: string[] = [];
    const r = await connectSsh({ ...at(), username: 'alice', password: s.user.password }, (c) =>
      c.on('banner', (m: string) => banners.push(m)),
    );
    expect('error' in r ? r.error : 'ready').toBe('ready');
    if ('client' in r) r.client.end();
    expect(banners.join('')).toContain('Authorized use only.');
  });

  it('a logged-in connection with no channel activity is closed after the idle timeout (keepalives do not count), its session too', async () => {
    // The client sends SSH keepalives far more often than the idle timeout: still idle.
    const r = await connectSsh({
      ...at(),
      username: 'alice',
      password: s.user.password,
      keepaliveInterval: 200,
    });
    if (!('client' in r)) throw new Error(r.error);
    let closed = false;
    r.client.on('close', () => {
      closed = true;
    });
    await waitFor(() => closed, 15_000);
    expect(closed).toBe(true);
    await waitFor(() => s.server.sessions.active().length === 0);
    expect(s.server.sessions.active()).toHaveLength(0);
  });

  it('SFTP requests are activity: a connection listing a folder every 300 ms outlives the idle timeout', async () => {
    const r = await connectSsh({ ...at(), username: 'alice', password: s.user.password });
    if (!('client' in r)) throw new Error(r.error);
    let closed = false;
    r.client.on('close', () => {
      closed = true;
    });
    const sftp = await new Promise<SFTPWrapper>((resolve, reject) =>
      r.client.sftp((err, w) => (err ? reject(err) : resolve(w))),
    );
    for (let i = 0; i < 10; i++) {
      await new Promise<void>((resolve, reject) =>
        sftp.readdir('/', (err) => (err ? reject(err) : resolve())),
      );
      await new Promise((res) => setTimeout(res, 300));
    }
    expect(closed).toBe(false);
    r.client.end();
  });

  it('a connection that never logs in is closed after the login grace time', async () => {
    const sock = tcpConnect(s.port, s.host);
    let received = '';
    sock.on('data', (d) => {
      received += d;
    });
    const closed = await new Promise<boolean>((resolve) => {
      sock.on('close', () => resolve(true));
      sock.on('error', () => {});
    });
    expect(closed).toBe(true);
    expect(received).toMatch(/^SSH-2\.0-Ferry/);
  });

  it('after N failures the address is banned: the right password fails, and new connections are dropped before SSH', async () => {
    for (let i = 0; i < 3; i++) {
      expect(await connectSsh({ ...at(), username: 'alice', password: `wrong-${i}-password` })).toEqual({
        error: AUTH_FAILED,
      });
    }
    const banned = await s.server.accounts.defender.bannedUntil('127.0.0.1');
    expect(banned).toBeInstanceOf(Date);
    // A raw connection: closed without even the SSH identification line.
    const sock = tcpConnect(s.port, s.host);
    let received = '';
    sock.on('data', (d) => {
      received += d;
    });
    await new Promise<void>((resolve) => {
      sock.on('close', () => resolve());
      sock.on('error', () => {});
    });
    expect(received).toBe('');
    const r = await connectSsh({ ...at(), username: 'alice', password: s.user.password });
    expect('error' in r).toBe(true);
  });
});
