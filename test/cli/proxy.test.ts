import { mkdtempSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Client } from '../../src/s3/client.js';
import { parseConnection } from '../../src/s3/connection.js';
import { bypassesProxy, proxyConfig } from '../../src/s3/proxy.js';
import { cliEnv, ferry, requireBuiltCli } from '../support/cli.js';
import { startTestProxy, type TestProxy } from '../support/http-proxy.js';
import { ensureBucket, testConnection, testS3 } from '../support/s3.js';
import { startTlsFront, type TlsFront } from '../support/tls-front.js';

/**
 * Issue 10 item 8: S3 traffic through an HTTP(S) proxy — $HTTP_PROXY/$HTTPS_PROXY/$NO_PROXY and
 * the `--proxy` connection setting — against a real counting proxy in front of the real RGW:
 * absolute-URI forwarding for the http endpoint, CONNECT tunnels for an https front of it. The
 * proxy's password never appears in what ferry prints.
 */
const PASSWORD = 'pr0xy-Pa55word-kept';
const dir = mkdtempSync(join(tmpdir(), 'ferry-proxy-'));
const conn = testConnection();
const base = `s3://${conn.bucket}/${conn.prefix}`;
let proxy: TestProxy;
let client: S3Client;
let tlsFront: TlsFront;
let tlsEndpoint: string;

beforeAll(async () => {
  client = createS3Client(conn);
  await ensureBucket(client, conn.bucket);
  await requireBuiltCli();
  proxy = await startTestProxy({ user: 'ferry', password: PASSWORD });
  writeFileSync(join(dir, 'small.txt'), 'through the proxy\n');
  tlsFront = await startTlsFront(dir); // RGW over HTTPS, trusted with --ca-bundle
  tlsEndpoint = tlsFront.url;
});
afterAll(async () => {
  client?.destroy();
  await proxy?.close();
  await tlsFront?.close();
});

const proxyUrl = () => `http://ferry:${PASSWORD}@127.0.0.1:${proxy.port}`;

async function body(key: string): Promise<string> {
  const r = await client.send(new GetObjectCommand({ Bucket: conn.bucket, Key: key }));
  return r.Body!.transformToString();
}

function expectNoPassword(...texts: string[]) {
  for (const t of texts) expect(t).not.toContain(PASSWORD);
}

describe('S3 traffic through an HTTP proxy', () => {
  it('$HTTP_PROXY: cp and ls of an http endpoint go through the proxy (absolute URIs, with the credentials)', async () => {
    const before = proxy.forwarded.length;
    const env = cliEnv({ HTTP_PROXY: proxyUrl(), NO_PROXY: '', no_proxy: '' });
    const cp = await ferry(['cp', join(dir, 'small.txt'), `${base}/env/small.txt`], env);
    expect(cp.stderr).toBe('');
    expect(cp.code).toBe(0);
    const ls = await ferry(['ls', `${base}/env/`], env);
    expect(ls.code).toBe(0);
    expect(ls.stdout).toContain('small.txt');
    const seen = proxy.forwarded.slice(before);
    expect(seen.some((s) => /^PUT http:\/\/127\.0\.0\.1:\d+\/.*env\/small\.txt/.test(s))).toBe(true);
    expect(seen.some((s) => s.startsWith('GET http://127.0.0.1:'))).toBe(true);
    expect(proxy.refused).toBe(0);
    expect(await body(`${conn.prefix}/env/small.txt`)).toBe('through the proxy\n');
  });

  it('NO_PROXY=127.0.0.1 bypasses it (for the --proxy setting too)', async () => {
    const before = proxy.forwarded.length + proxy.connects.length;
    for (const env of [
      cliEnv({ HTTP_PROXY: proxyUrl(), NO_PROXY: '127.0.0.1' }),
      cliEnv({ HTTP_PROXY: '', no_proxy: `localhost,127.0.0.1:${new URL(testS3().endpoint).port}` }),
    ]) {
      const args = env.HTTP_PROXY ? [] : ['--proxy', proxyUrl()];
      const cp = await ferry([...args, 'cp', join(dir, 'small.txt'), `${base}/direct/small.txt`], env);
      expect(cp.code).toBe(0);
    }
    expect(proxy.forwarded.length + proxy.connects.length).toBe(before);
    expect(await body(`${conn.prefix}/direct/small.txt`)).toBe('through the proxy\n');
  });

  it('--proxy with an https endpoint: a CONNECT tunnel, TLS checked end to end', async () => {
    const before = proxy.connects.length;
    const env = cliEnv({ NO_PROXY: '', no_proxy: '', HTTPS_PROXY: '' });
    const args = ['--proxy', proxyUrl(), '--endpoint', tlsEndpoint, '--ca-bundle', join(dir, 'ca.pem')];
    const cp = await ferry([...args, 'cp', join(dir, 'small.txt'), `${base}/tls/small.txt`], env);
    expect(cp.stderr).toBe('');
    expect(cp.code).toBe(0);
    const cat = await ferry([...args, 'cat', `${base}/tls/small.txt`], env);
    expect(cat.stdout).toBe('through the proxy\n');
    const tunnels = proxy.connects.slice(before);
    expect(tunnels.length).toBeGreaterThan(0);
    expect(tunnels.every((t) => t === tlsEndpoint.replace('https://', ''))).toBe(true);
    // $HTTPS_PROXY does the same.
    const viaEnv = await ferry(
      ['--endpoint', tlsEndpoint, '--ca-bundle', join(dir, 'ca.pem'), 'ls', `${base}/tls/`],
      cliEnv({ HTTPS_PROXY: proxyUrl(), NO_PROXY: '' }),
    );
    expect(viaEnv.stdout).toContain('small.txt');
    expect(proxy.connects.length).toBeGreaterThan(before + tunnels.length);
  });

  it('a proxy that is down: a clear error naming the proxy, without its password; exit 6', async () => {
    const port = await closedPort();
    const r = await ferry(
      ['cp', join(dir, 'small.txt'), `${base}/down/small.txt`],
      cliEnv({ HTTP_PROXY: `http://ferry:${PASSWORD}@127.0.0.1:${port}`, NO_PROXY: '' }),
    );
    expect(r.code).toBe(6);
    expect(r.stderr).toMatch(new RegExp(`HTTP proxy http://ferry:\\*\\*\\*@127\\.0\\.0\\.1:${port}`));
    expect(r.stderr).toMatch(/ECONNREFUSED/);
    expectNoPassword(r.stderr, r.stdout);
  });

  it('a wrong proxy password: the 407 is said, the password is not', async () => {
    const r = await ferry(
      ['--endpoint', tlsEndpoint, '--ca-bundle', join(dir, 'ca.pem'), 'ls', `${base}/`],
      cliEnv({ HTTPS_PROXY: `http://ferry:wrong-${PASSWORD}@127.0.0.1:${proxy.port}`, NO_PROXY: '' }),
    );
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/refused to connect to 127\.0\.0\.1:\d+: 407/);
    expectNoPassword(r.stderr, r.stdout);
  });

  it('ferry doctor names the proxy in use (never its password), and when NO_PROXY skips it', async () => {
    const viaProxy = await ferry(['doctor', `${base}/`], cliEnv({ HTTP_PROXY: proxyUrl(), NO_PROXY: '' }));
    expect(viaProxy.stdout).toMatch(
      new RegExp(
        `proxy +http://ferry:\\*\\*\\*@127\\.0\\.0\\.1:${proxy.port} \\(forward proxy, from HTTP_PROXY\\)`,
      ),
    );
    expect(viaProxy.stdout).toMatch(/access +FULL/);
    expectNoPassword(viaProxy.stdout, viaProxy.stderr);
    const json = await ferry(
      ['--proxy', proxyUrl(), 'doctor', '--json', `${base}/`],
      cliEnv({ NO_PROXY: '' }),
    );
    expect(JSON.parse(json.stdout).proxy).toMatch(
      /^http:\/\/ferry:\*\*\*@127\.0\.0\.1:\d+ \(forward proxy, from connection setting\)$/,
    );
    expectNoPassword(json.stdout, json.stderr);
    const skipped = await ferry(
      ['doctor', `${base}/`],
      cliEnv({ HTTP_PROXY: proxyUrl(), NO_PROXY: '127.0.0.1' }),
    );
    expect(skipped.stdout).toMatch(/proxy +none: NO_PROXY matches 127\.0\.0\.1/);
  });
});

describe('proxy settings', () => {
  it('a password in the proxy URL is kept apart as the secret proxyPassword', () => {
    const c = parseConnection({
      bucket: 'bkt',
      proxy: `http://ferry:${encodeURIComponent('p@ss:w/rd')}@proxy:3128`,
    });
    expect(c.proxy).toBe('http://ferry@proxy:3128');
    expect(c.proxyPassword).toBe('p@ss:w/rd');
    expect(proxyConfig(c, {}).https?.password).toBe(encodeURIComponent('p@ss:w/rd'));
    expect(() => parseConnection({ bucket: 'bkt', proxy: 'socks5://h:1080' })).toThrow(/only http/);
  });

  it('environment: lower case first, per scheme; the setting wins', () => {
    const env = { HTTPS_PROXY: 'http://upper:1', https_proxy: 'lower:2', HTTP_PROXY: 'http://plain:3' };
    const p = proxyConfig({}, env);
    expect(p.https?.host).toBe('lower:2');
    expect(p.http?.host).toBe('plain:3');
    expect(proxyConfig({ proxy: 'http://set:4' }, env).https?.host).toBe('set:4');
    expect(proxyConfig({}, {}).https).toBeUndefined();
  });

  it('NO_PROXY: *, hosts, domains with or without a dot, IPs, ports', () => {
    expect(bypassesProxy('s3.example.com', 443, ['example.com'])).toBe(true);
    expect(bypassesProxy('s3.example.com', 443, ['.example.com'])).toBe(true);
    expect(bypassesProxy('badexample.com', 443, ['example.com'])).toBe(false);
    expect(bypassesProxy('anything', 80, ['*'])).toBe(true);
    expect(bypassesProxy('127.0.0.1', 7480, ['127.0.0.1'])).toBe(true);
    expect(bypassesProxy('127.0.0.1', 7480, ['127.0.0.1:9000'])).toBe(false);
    expect(bypassesProxy('127.0.0.10', 7480, ['127.0.0.1'])).toBe(false);
    expect(bypassesProxy('::1', 443, ['::1'])).toBe(true);
  });
});

function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}
