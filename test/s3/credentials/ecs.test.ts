import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createS3Client } from '../../../src/s3/client.js';
import { parseConnection } from '../../../src/s3/connection.js';
import { credentialsFor } from '../../../src/s3/credentials/chain.js';
import type { AwsCredentials } from '../../../src/s3/credentials/types.js';
import { S3Storage } from '../../../src/storage/s3/s3-storage.js';
import { type Loopback, startExpiryProxy, startLoopback } from '../../support/loopback.js';
import { TEST_BUCKET, testS3 } from '../../support/s3.js';
import { shortLivedCredentials } from '../../support/short-creds.js';

const servers: Loopback[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

/**
 * A stand-in for the ECS agent / EKS Pod Identity endpoint: GET PATH with the expected
 * Authorization header → the credentials JSON; 401 for a missing or wrong token.
 */
async function startEcs(
  path: string,
  authorization: () => string | undefined,
  mint: () => Promise<AwsCredentials>,
) {
  const s = (await startLoopback(async (req, res) => {
    const want = authorization();
    if (req.url !== path) return void res.writeHead(404).end();
    if (want !== undefined && req.headers.authorization !== want)
      return void res.writeHead(401).end('bad token');
    const c = await mint();
    s.served++;
    res.writeHead(200, { 'content-type': 'application/json' }).end(
      JSON.stringify({
        AccessKeyId: c.accessKeyId,
        SecretAccessKey: c.secretAccessKey,
        Token: c.sessionToken,
        Expiration: c.expiration?.toISOString(),
      }),
    );
  })) as Loopback & { served: number };
  s.served = 0;
  servers.push(s);
  return s;
}

const realKeys = async (): Promise<AwsCredentials> => ({
  accessKeyId: testS3().accessKeyId,
  secretAccessKey: testS3().secretAccessKey,
});
const home = () => mkdtempSync(join(tmpdir(), 'ferry-home-'));

function storageFor(
  env: NodeJS.ProcessEnv,
  endpoint = testS3().endpoint,
  relativeBase?: string,
  prefix = 'i3-ecs',
) {
  const conn = parseConnection({ bucket: TEST_BUCKET, prefix, endpoint, region: 'us-east-1' });
  const creds = credentialsFor(conn, env, { ecs: { relativeBase } });
  return { storage: new S3Storage(createS3Client(conn, env, { credentials: creds }), conn), creds, conn };
}

describe('container credentials (ECS / EKS Pod Identity)', () => {
  it('relative URI under the agent base, with AWS_CONTAINER_AUTHORIZATION_TOKEN', async () => {
    const ecs = await startEcs('/v2/credentials/abc', () => 'secret-token', realKeys);
    const env = {
      HOME: home(),
      AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: '/v2/credentials/abc',
      AWS_CONTAINER_AUTHORIZATION_TOKEN: 'secret-token',
    };
    const { storage, creds } = storageFor(env, undefined, ecs.url);
    await storage.stat('');
    expect(creds.source()?.name).toBe('ecs');
    expect(ecs.served).toBe(1);
    await storage.close();
  });

  it('full URI with a token file that is read again on every refresh, during a long listing', async () => {
    const short = shortLivedCredentials(3000);
    const tokenFile = join(home(), 'token');
    let current = 'token-1';
    writeFileSync(tokenFile, current);
    const ecs = await startEcs('/creds', () => current, short.mint);
    const proxy = await startExpiryProxy(short.stsEndpoint, short.expiryOf);
    servers.push(proxy);
    const env = {
      HOME: home(),
      AWS_CONTAINER_CREDENTIALS_FULL_URI: `${ecs.url}/creds`,
      AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: tokenFile,
    };
    const prefix = `i3-ecs-list-${Date.now()}`;
    const { storage } = storageFor(env, proxy.url, undefined, prefix);
    for (let i = 0; i < 8; i++) await storage.write(`f${i}`, Buffer.from(String(i)));
    // The agent rotates its token; the next refresh must send the new one.
    current = 'token-2';
    writeFileSync(tokenFile, current);
    const mintedBefore = short.minted.length;
    // A listing of 2 keys per page, read slowly: it outlives the credentials it started with.
    const seen: string[] = [];
    let token: string | undefined;
    do {
      const page = await storage.listPage({ Prefix: `${prefix}/`, MaxKeys: 2, ContinuationToken: token });
      seen.push(...(page.Contents ?? []).map((o) => o.Key!));
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
      await new Promise((r) => setTimeout(r, 1200));
    } while (token);
    expect(seen).toHaveLength(8);
    expect(short.minted.length).toBeGreaterThan(mintedBefore); // renewed with the new token
    expect(proxy.rejected).toBe(0);
    await storage.removeTree('');
    await storage.close();
  });

  it('a wrong authorization token is a clear error, not a fall-through', async () => {
    await startEcs('/creds', () => 'right', realKeys).then(async (ecs) => {
      const env = {
        HOME: home(),
        AWS_CONTAINER_CREDENTIALS_FULL_URI: `${ecs.url}/creds`,
        AWS_CONTAINER_AUTHORIZATION_TOKEN: 'wrong',
      };
      const { storage } = storageFor(env);
      await expect(storage.stat('')).rejects.toThrow(/answered 401 \(authorization token missing or wrong\)/);
      await storage.close();
    });
  });

  it('refuses a plain-HTTP full URI to a host that is not loopback or the agent', async () => {
    const env = { HOME: home(), AWS_CONTAINER_CREDENTIALS_FULL_URI: 'http://example.com/creds' };
    const { storage } = storageFor(env);
    await expect(storage.stat('')).rejects.toThrow(/plain HTTP is allowed only to loopback/);
    await storage.close();
  });
});
