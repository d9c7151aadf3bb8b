import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { createS3Client } from '../../src/s3/client.js';
import { cliEnv, ferry, requireBuiltCli } from '../support/cli.js';
import { ensureBucket, testConnection, testS3 } from '../support/s3.js';

/**
 * Issue 10 item 7: `ferry presign` (SigV4 query-string URLs, GET and PUT, at most 7 days, with
 * a message saying why) and `ferry url`. The URLs are used with curl and fetch, no credentials.
 */
const curl = async (args: string[]) =>
  (await promisify(execFile)('curl', args, { encoding: 'buffer', maxBuffer: 1 << 26 })).stdout;

describe('ferry presign and ferry url', () => {
  const conn = testConnection();
  const base = `s3://${conn.bucket}/${conn.prefix}`;
  const env = () => cliEnv();
  beforeAll(async () => {
    const client = createS3Client(conn);
    await ensureBucket(client, conn.bucket);
    client.destroy();
    await requireBuiltCli();
  });

  it('a PUT URL uploads without credentials, a GET URL downloads; both expire', async () => {
    const put = await ferry(['presign', '--method', 'PUT', '--expires', '10m', `${base}/p.bin`], env());
    expect(put.code).toBe(0);
    const url = put.stdout.trim();
    expect(url).toMatch(/X-Amz-Expires=600/);
    const body = randomBytes(100_000);
    expect((await fetch(url, { method: 'PUT', body })).status).toBe(200);
    const get = await ferry(['presign', '--json', `${base}/p.bin`], env());
    expect(get.code).toBe(0);
    const signed = JSON.parse(get.stdout) as { url: string; method: string; expiresAt: string };
    expect(signed.method).toBe('GET');
    expect(Date.parse(signed.expiresAt) - Date.now()).toBeGreaterThan(3500_000);
    // curl, as a user would: the bytes, then a 403 once a one-second URL has expired.
    const got = await curl(['-sS', '--fail', signed.url]);
    expect(got.equals(body)).toBe(true);
    const short = (await ferry(['presign', '--expires', '1', `${base}/p.bin`], env())).stdout.trim();
    await new Promise((r) => setTimeout(r, 2500));
    expect((await curl(['-s', '-o', '/dev/null', '-w', '%{http_code}', short])).toString()).toBe('403');
  });

  it('refuses more than 7 days (saying why), a missing file, a folder, and local paths', async () => {
    const long = await ferry(['presign', '--expires', '8d', `${base}/p.bin`], env());
    expect(long.code).toBe(2);
    expect(long.stderr).toMatch(/at most 7 days \(604800 s\).*Signature V4/);
    expect((await ferry(['presign', '--expires', '7d', `${base}/p.bin`], env())).code).toBe(0);
    expect((await ferry(['presign', `${base}/nothing-here`], env())).code).toBe(3);
    await ferry(['mkdir', `${base}/dir`], env());
    expect((await ferry(['presign', `${base}/dir`], env())).code).toBe(5);
    expect((await ferry(['presign', '--expires', 'soon', `${base}/p.bin`], env())).code).toBe(2);
    expect((await ferry(['presign', '--method', 'DELETE', `${base}/p.bin`], env())).code).toBe(2);
    expect((await ferry(['presign', '/etc/hostname'], env())).code).toBe(2);
  });

  it('url prints the unsigned object URL the SDK addresses', async () => {
    const r = await ferry(['url', `${base}/a b.txt`], env());
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(`${testS3().endpoint}/${conn.bucket}/${conn.prefix}/a%20b.txt`);
  });
});
