import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createS3Client } from '../../../src/s3/client.js';
import { connectionFromUrl, parseConnection, type S3ConnectionInput } from '../../../src/s3/connection.js';
import { credentialsFor } from '../../../src/s3/credentials/chain.js';
import { S3Storage } from '../../../src/storage/s3/s3-storage.js';
import { startImds } from '../../support/imds-server.js';
import { type Loopback, slowBody, startExpiryProxy } from '../../support/loopback.js';
import { TEST_BUCKET, testS3 } from '../../support/s3.js';
import { shortLivedCredentials } from '../../support/short-creds.js';

/** An environment with no credentials anywhere (no env keys, an empty HOME). */
function bareEnv(): NodeJS.ProcessEnv {
  return { HOME: mkdtempSync(join(tmpdir(), 'ferry-home-')), PATH: process.env.PATH };
}

const staticKeys = () => {
  const s3 = testS3();
  return async () => ({
    accessKeyId: s3.accessKeyId,
    secretAccessKey: s3.secretAccessKey,
    expiration: new Date(Date.now() + 3600_000),
  });
};

const servers: Loopback[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function storageWith(conn: Partial<S3ConnectionInput>, env: NodeJS.ProcessEnv, imdsTimeoutMs?: number) {
  const c = parseConnection({
    bucket: TEST_BUCKET,
    endpoint: testS3().endpoint,
    region: 'us-east-1',
    ...conn,
  });
  const creds = credentialsFor(c, env, { imds: { timeoutMs: imdsTimeoutMs } });
  const client = createS3Client(c, env, { credentials: creds });
  return { storage: new S3Storage(client, c), creds };
}

describe('EC2 instance metadata (IMDSv2)', () => {
  it('takes a session token (PUT with TTL), then the role and its credentials, and S3 accepts them', async () => {
    const imds = await startImds({ mint: staticKeys() });
    servers.push(imds);
    const { storage, creds } = await storageWith(
      { credentialSource: 'imds', imdsEndpoint: imds.url, prefix: 'i3-imds' },
      bareEnv(),
    );
    await storage.write('hello.txt', Buffer.from('hi'));
    expect((await storage.stat('hello.txt')).size).toBe(2);
    await storage.remove('hello.txt');
    expect(imds.tokenPuts).toBe(1); // the token is reused
    expect(imds.ttls).toEqual(['21600']);
    expect(imds.refusedV1).toBe(0);
    expect(creds.source()?.name).toBe('imds');
    await storage.close();
  });

  it('is what the default chain picks when nothing else is configured', async () => {
    const imds = await startImds({ mint: staticKeys() });
    servers.push(imds);
    const env = { ...bareEnv(), AWS_EC2_METADATA_SERVICE_ENDPOINT: imds.url };
    const { storage, creds } = await storageWith({ prefix: 'i3-imds' }, env);
    await storage.stat('');
    expect(creds.source()?.name).toBe('imds');
    await storage.close();
  });

  it('is selected by the CrushFTP spelling s3://iam_lookup:lookup@host/bucket', async () => {
    const imds = await startImds({ mint: staticKeys() });
    servers.push(imds);
    const host = new URL(testS3().endpoint).host;
    const conn = connectionFromUrl(`s3+http://iam_lookup:lookup@${host}/${TEST_BUCKET}/i3-imds`, {
      imdsEndpoint: imds.url,
    });
    expect(conn.credentialSource).toBe('imds');
    expect(conn.accessKeyId).toBeUndefined();
    const client = createS3Client(conn, bareEnv());
    const storage = new S3Storage(client, conn);
    await storage.stat('');
    expect(imds.served).toBe(1);
    await storage.close();
  });

  it('refuses IMDSv1 unless enabled: a v1-only service is an error, with --imds-v1 it works', async () => {
    const imds = await startImds({ mint: staticKeys(), noV2: true, v1: true });
    servers.push(imds);
    const strict = await storageWith({ credentialSource: 'imds', imdsEndpoint: imds.url }, bareEnv());
    await expect(strict.storage.stat('')).rejects.toThrow(/IMDSv2 token request .* answered 403/);
    expect(imds.served).toBe(0);
    const lax = await storageWith(
      { credentialSource: 'imds', imdsEndpoint: imds.url, imdsV1Fallback: true },
      bareEnv(),
    );
    await lax.storage.stat('');
    expect(imds.served).toBe(1);
    await strict.storage.close();
    await lax.storage.close();
  });

  it('answers 401 to token-less requests when v1 is off (the stand-in follows the protocol)', async () => {
    const imds = await startImds({ mint: staticKeys() });
    servers.push(imds);
    const res = await fetch(`${imds.url}/latest/meta-data/iam/security-credentials/`);
    expect(res.status).toBe(401);
  });

  it('names the hop-limit trap when the token PUT never answers', async () => {
    const imds = await startImds({ mint: staticKeys(), hangTokenPut: true });
    servers.push(imds);
    const { storage } = await storageWith(
      { credentialSource: 'imds', imdsEndpoint: imds.url },
      bareEnv(),
      300,
    );
    await expect(storage.stat('')).rejects.toThrow(/timed out.*hop limit/s);
    await storage.close();
  });

  it('renews credentials ahead of expiry: a slow multipart upload outlives several 4-second credentials and finishes', async () => {
    const short = shortLivedCredentials(4000);
    const imds = await startImds({ mint: short.mint });
    const proxy = await startExpiryProxy(short.stsEndpoint, short.expiryOf);
    servers.push(imds, proxy);
    const conn = parseConnection({
      bucket: TEST_BUCKET,
      prefix: `i3-refresh-${Date.now()}`,
      endpoint: proxy.url,
      region: 'us-east-1',
      credentialSource: 'imds',
      imdsEndpoint: imds.url,
    });
    const client = createS3Client(conn, bareEnv());
    const storage = new S3Storage(client, conn);
    storage.upload = {
      threshold: 5 * 1024 * 1024,
      partSize: 5 * 1024 * 1024,
      concurrency: 1,
      partAttempts: 1,
    };
    // 30 MiB in 256 KiB pieces, 60 ms apart: ~7 s at the very least, usually much more here.
    const total = 30 * 1024 * 1024;
    const hash = createHash('sha256');
    const body = (async function* () {
      for await (const b of slowBody(total, 256 * 1024, 60)) {
        hash.update(b);
        yield b;
      }
    })();
    await storage.write('big.bin', body);
    const back = createHash('sha256');
    for await (const b of await storage.read('big.bin')) back.update(b as Buffer);
    expect(back.digest('hex')).toBe(hash.digest('hex'));
    await storage.remove('big.bin');
    // The upload needed more than one set of credentials, and none was used past its expiry.
    expect(short.minted.length).toBeGreaterThanOrEqual(2);
    console.log(
      `refresh: ${short.minted.length} credential sets over one upload, ${proxy.forwarded} requests forwarded`,
    );
    expect(proxy.rejected).toBe(0);
    // The proxy really enforces expiry: the first credentials, now expired, are refused.
    const first = short.minted[0]!;
    const stale = parseConnection({
      ...conn,
      credentialSource: 'static',
      accessKeyId: first.accessKeyId,
      secretAccessKey: first.secretAccessKey,
      sessionToken: first.sessionToken,
    });
    const staleStorage = new S3Storage(createS3Client(stale, bareEnv()), stale);
    await expect(staleStorage.stat('')).rejects.toThrow(/expired/);
    expect(proxy.rejected).toBeGreaterThan(0);
    await staleStorage.close();
    await storage.close();
  });
});
