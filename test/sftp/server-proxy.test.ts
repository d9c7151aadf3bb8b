import { createServer, type Server, connect as tcpConnect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProxyProtocolError, parseProxyHeader } from '../../src/protocols/sftp/proxy-protocol.js';
import { shellWords } from '../../src/protocols/sftp/shell-words.js';
import { connectSsh, type SftpTestServer, startSftpServer, waitFor } from '../support/sftp.js';

/** v2 header: PROXY command, TCP over IPv4 or IPv6, source → destination. */
function v2Header(source: string, sourcePort: number): Buffer {
  const sig = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
  if (source.includes(':')) {
    const addr = Buffer.alloc(36);
    const groups = source.split(':');
    // Only full or `::`-free forms are used in these tests.
    for (const [i, g] of groups.entries()) addr.writeUInt16BE(Number.parseInt(g || '0', 16), i * 2);
    addr.writeUInt16BE(0, 16 + 14); // destination ::1 (last group)
    addr.writeUInt16BE(1, 30);
    addr.writeUInt16BE(sourcePort, 32);
    addr.writeUInt16BE(2022, 34);
    return Buffer.concat([sig, Buffer.from([0x21, 0x21, 0, 36]), addr]);
  }
  const addr = Buffer.alloc(12);
  for (const [i, o] of source.split('.').entries()) addr.writeUInt8(Number(o), i);
  addr.set([127, 0, 0, 1], 4);
  addr.writeUInt16BE(sourcePort, 8);
  addr.writeUInt16BE(2022, 10);
  return Buffer.concat([sig, Buffer.from([0x21, 0x11, 0, 12]), addr]);
}

/** A tiny TCP forwarder to `port` that first sends `header` (what a load balancer does). */
async function forwardingProxy(
  port: number,
  header: () => Buffer | string,
): Promise<Server & { port: number }> {
  const server = createServer((client) => {
    const upstream = tcpConnect(port, '127.0.0.1', () => {
      upstream.write(header());
      client.pipe(upstream).pipe(client);
    });
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.on('close', () => upstream.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return Object.assign(server, { port: (server.address() as { port: number }).port });
}

describe('PROXY protocol header parser', () => {
  it('v1 TCP4/TCP6/UNKNOWN, with the bytes after it left alone', () => {
    const buf = Buffer.from('PROXY TCP4 203.0.113.7 10.0.0.1 51234 2022\r\nSSH-2.0-x\r\n');
    const r = parseProxyHeader(buf);
    expect(r).toEqual({ header: { version: 1, source: '203.0.113.7', sourcePort: 51234 }, length: 44 });
    expect(buf.subarray(44).toString()).toBe('SSH-2.0-x\r\n');
    expect(parseProxyHeader(Buffer.from('PROXY TCP6 2001:db8::7 ::1 1 2\r\n'))).toMatchObject({
      header: { source: '2001:db8::7' },
    });
    expect(parseProxyHeader(Buffer.from('PROXY UNKNOWN\r\n'))).toEqual({
      header: { version: 1 },
      length: 15,
    });
  });

  it('v2 IPv4/IPv6/LOCAL', () => {
    expect(parseProxyHeader(v2Header('198.51.100.9', 4000))).toEqual({
      header: { version: 2, source: '198.51.100.9', sourcePort: 4000 },
      length: 28,
    });
    expect(parseProxyHeader(v2Header('2001:db8:0:0:0:0:0:9', 5))).toMatchObject({
      header: { version: 2, source: '2001:db8::9', sourcePort: 5 },
      length: 52,
    });
    const local = Buffer.concat([v2Header('1.2.3.4', 1).subarray(0, 12), Buffer.from([0x20, 0x00, 0, 0])]);
    expect(parseProxyHeader(local)).toEqual({ header: { version: 2 }, length: 16 });
  });

  it('incomplete, absent and malformed headers', () => {
    expect(parseProxyHeader(Buffer.from('PRO'))).toBe('incomplete');
    expect(parseProxyHeader(Buffer.from('PROXY TCP4 1.2.3.4'))).toBe('incomplete');
    expect(parseProxyHeader(v2Header('1.2.3.4', 1).subarray(0, 20))).toBe('incomplete');
    expect(parseProxyHeader(Buffer.from('SSH-2.0-OpenSSH_9.2\r\n'))).toBe('none');
    for (const bad of [
      'PROXY TCP4 1.2.3 10.0.0.1 1 2\r\n',
      'PROXY TCP4 1.2.3.4 10.0.0.1 99999 2\r\n',
      'PROXY UDP4 1.2.3.4 10.0.0.1 1 2\r\n',
      'PROXY TCP4 1.2.3.4 10.0.0.1 1\r\n',
      `PROXY TCP4 ${'1'.repeat(120)}\r\n`,
    ]) {
      expect(parseProxyHeader(Buffer.from(bad)), bad).toBeInstanceOf(ProxyProtocolError);
    }
    const v3 = Buffer.from(v2Header('1.2.3.4', 1));
    v3[12] = 0x31;
    expect(parseProxyHeader(v3)).toBeInstanceOf(ProxyProtocolError);
  });
});

describe('exec command lines (shell words)', () => {
  it('splits like a shell for simple commands, quotes kept literal, no expansion', () => {
    expect(shellWords('scp -t -- /a')).toEqual(['scp', '-t', '--', '/a']);
    expect(shellWords(`scp -f '/dir/my file' "b \\"c\\"" d\\ e`)).toEqual([
      'scp',
      '-f',
      '/dir/my file',
      'b "c"',
      'd e',
    ]);
    expect(shellWords(`md5sum '$HOME/*' ''`)).toEqual(['md5sum', '$HOME/*', '']);
    expect(shellWords('  a\t b  ')).toEqual(['a', 'b']);
    expect(() => shellWords("scp -t 'open")).toThrow(/unterminated/);
    expect(() => shellWords('scp -t "open')).toThrow(/unterminated/);
    expect(() => shellWords('scp \\')).toThrow(/trailing/);
  });
});

describe('PROXY protocol in front of the SSH server', () => {
  let s: SftpTestServer;
  let untrusted: SftpTestServer;
  let required: SftpTestServer;
  const proxies: Server[] = [];
  beforeAll(async () => {
    s = await startSftpServer({
      env: { FERRY_SFTP__PROXY_PROTOCOL: 'optional', FERRY_SFTP__PROXY_TRUSTED: '127.0.0.1, ::1' },
    });
    untrusted = await startSftpServer({
      env: { FERRY_SFTP__PROXY_PROTOCOL: 'optional', FERRY_SFTP__PROXY_TRUSTED: '10.9.9.9' },
    });
    required = await startSftpServer({
      env: { FERRY_SFTP__PROXY_PROTOCOL: 'required', FERRY_SFTP__PROXY_TRUSTED: '127.0.0.0/8' },
    });
  });
  afterAll(async () => {
    for (const p of proxies) p.close();
    await Promise.all([s?.close(), untrusted?.close(), required?.close()]);
  });

  /** Log in as alice through a proxy sending `header`; the session's remote, or the error. */
  async function loginThrough(server: SftpTestServer, header: () => Buffer | string) {
    const proxy = await forwardingProxy(server.port, header);
    proxies.push(proxy);
    const r = await connectSsh({
      host: '127.0.0.1',
      port: proxy.port,
      username: 'alice',
      password: server.user.password,
    });
    if ('error' in r) return { error: r.error };
    const remote = server.server.sessions.active().find((x) => x.user.username === 'alice')?.remote;
    r.client.end();
    await waitFor(() => server.server.sessions.active().length === 0);
    return { remote };
  }

  it('v1 and v2 headers from a trusted balancer: the real client address is the session remote', async () => {
    expect(await loginThrough(s, () => 'PROXY TCP4 203.0.113.7 127.0.0.1 40000 2022\r\n')).toEqual({
      remote: '203.0.113.7',
    });
    expect(await loginThrough(s, () => v2Header('198.51.100.9', 4000))).toEqual({ remote: '198.51.100.9' });
    expect(await loginThrough(s, () => v2Header('2001:db8:0:0:0:0:0:9', 5))).toEqual({
      remote: '2001:db8::9',
    });
  });

  it('optional: a direct client (no header) still works', async () => {
    const r = await connectSsh({ host: s.host, port: s.port, username: 'alice', password: s.user.password });
    if (!('client' in r)) throw new Error(r.error);
    expect(s.server.sessions.active().find((x) => x.user.username === 'alice')?.remote).toBe('127.0.0.1');
    r.client.end();
    await waitFor(() => s.server.sessions.active().length === 0);
  });

  it('bans see the real address: a banned client address is dropped, the balancer is not', async () => {
    const banned = '192.0.2.66';
    for (let i = 0; i < 5; i++) {
      const proxy = await forwardingProxy(s.port, () => `PROXY TCP4 ${banned} 127.0.0.1 1000 2022\r\n`);
      proxies.push(proxy);
      await connectSsh({ host: '127.0.0.1', port: proxy.port, username: 'alice', password: `wrong-${i}-pw` });
    }
    expect(await s.server.accounts.defender.bannedUntil(banned)).toBeInstanceOf(Date);
    expect(await s.server.accounts.defender.bannedUntil('127.0.0.1')).toBeUndefined();
    const r = await loginThrough(s, () => `PROXY TCP4 ${banned} 127.0.0.1 1000 2022\r\n`);
    expect(r.error).toBeDefined();
    // alice herself is banned too now (per-user failures); another user from another address works.
    const bob = await s.addUser('bob');
    const proxy = await forwardingProxy(s.port, () => 'PROXY TCP4 203.0.113.8 127.0.0.1 1000 2022\r\n');
    proxies.push(proxy);
    const ok = await connectSsh({
      host: '127.0.0.1',
      port: proxy.port,
      username: 'bob',
      password: bob.password,
    });
    if (!('client' in ok)) throw new Error(ok.error);
    ok.client.end();
  });

  it('a header from an untrusted source is refused; without one that server still takes clients', async () => {
    const r = await loginThrough(untrusted, () => 'PROXY TCP4 203.0.113.7 127.0.0.1 40000 2022\r\n');
    expect(r.error).toBeDefined();
    expect(untrusted.server.sessions.active()).toHaveLength(0);
    const direct = await connectSsh({
      host: untrusted.host,
      port: untrusted.port,
      username: 'alice',
      password: untrusted.user.password,
    });
    if (!('client' in direct)) throw new Error(direct.error);
    direct.client.end();
  });

  it('required: a client without a header is refused; through the balancer it works', async () => {
    const direct = await connectSsh({
      host: required.host,
      port: required.port,
      username: 'alice',
      password: required.user.password,
    });
    expect('error' in direct).toBe(true);
    expect(await loginThrough(required, () => v2Header('203.0.113.20', 9))).toEqual({
      remote: '203.0.113.20',
    });
  });
});
