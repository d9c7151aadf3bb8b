import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectSsh, exec, type SftpTestServer, startSftpServer, waitFor } from '../support/sftp.js';

describe('SSH login (ssh2 Client and OpenSSH against ferry serve)', () => {
  let s: SftpTestServer;
  beforeAll(async () => {
    s = await startSftpServer();
  });
  afterAll(async () => {
    await s?.close();
  });

  it('prints the sftp:// listener line', () => {
    expect(s.url).toMatch(/^sftp:\/\/127\.0\.0\.1:\d+$/);
    expect(s.said).toContain(`sftp: listening on ${s.url}`);
  });

  it('password login opens one session, closed when the connection ends', async () => {
    const r = await connectSsh({ host: s.host, port: s.port, username: 'alice', password: s.user.password });
    if (!('client' in r)) throw new Error(r.error);
    const mine = s.server.sessions
      .active()
      .filter((x) => x.user.username === 'alice' && x.protocol === 'sftp');
    expect(mine).toHaveLength(1);
    expect(mine[0]?.remote).toBe('127.0.0.1');
    r.client.end();
    await waitFor(() => s.server.sessions.active().length === 0);
    expect(s.server.sessions.active()).toHaveLength(0);
  });

  it('key login with OpenSSH: exec of a command other than scp/hashes is refused (after login)', async () => {
    const r = await exec('ssh', [...s.sshArgs, s.destination, 'ls', '-la']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).not.toMatch(/Permission denied/);
    expect(r.stderr).toMatch(/exec request failed/);
  });

  it('key login with OpenSSH sftp; logins and failures are in the audit log with protocol and address', async () => {
    const r = await exec('sftp', [...s.sftpArgs, '-b', '-', s.destination], { input: 'pwd\n' });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('Remote working directory: /');
    const bad = await connectSsh({
      host: s.host,
      port: s.port,
      username: 'alice',
      password: 'not-her-password',
    });
    expect('error' in bad).toBe(true);
    await waitFor(() => false, 300); // the audit subscriber writes after the login returns
    const entries = await s.server.accounts.audit.list({ actor: 'alice', limit: 100 });
    const logins = entries.filter((e) => e.kind === 'login' && e.protocol === 'sftp');
    expect(logins.length).toBeGreaterThan(0);
    expect(logins[0]?.remote).toBe('127.0.0.1');
    const failed = entries.find((e) => e.kind === 'login-failed' && e.protocol === 'sftp');
    expect(failed?.remote).toBe('127.0.0.1');
    // The password never reaches the audit log.
    expect(JSON.stringify(entries)).not.toContain('not-her-password');
    expect(JSON.stringify(entries)).not.toContain(s.user.password);
  });

  it('a shell (with or without a pty) is refused', async () => {
    const r = await exec('ssh', [...s.sshArgs, '-T', s.destination]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).not.toMatch(/Permission denied/);
    expect(r.stderr).toMatch(/shell request failed/);
  });

  it('a key not on the account is refused', async () => {
    const other = await s.addUser('bob');
    const options = [...s.sshOptions.slice(0, -2), '-i', other.keyPath, '-p', String(s.port)];
    const r = await exec('ssh', [...options, s.destination, 'md5sum', 'x']);
    expect(r.code).toBe(255);
    expect(r.stderr).toMatch(/Permission denied/);
  });
});
