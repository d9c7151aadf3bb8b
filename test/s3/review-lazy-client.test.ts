import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { lazyS3Client } from '../../src/s3/client.js';
import { parseConnection } from '../../src/s3/connection.js';
import { checkedStorage } from '../../src/storage/checked.js';
import { S3Storage } from '../../src/storage/s3/s3-storage.js';
import { collect, readText } from '../support/collect.js';
import { type Loopback, startLoopback } from '../support/loopback.js';
import { TEST_BUCKET } from '../support/s3.js';
import { shortLivedCredentials } from '../support/short-creds.js';

/**
 * Review of lazyS3Client (client.ts), the client the CLI makes: the lean listing path is ready
 * at once, the SDK client is made on first use, and both sign with one credential provider.
 * Credentials come from a container-credentials stand-in (the ECS protocol: a GET answered with a
 * JSON document) handing out real session credentials of RGW's STS gateway; the store is RGW.
 * - first uses at once (a lean LIST, a small PUT, an SDK HEAD) share one credential fetch;
 * - a failed first fetch fails that call with a clear error and is not kept: the next call asks
 *   again and works;
 * - the credentials' secret and token appear in no error message.
 */
const servers: Loopback[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

async function setup(answer: (n: number) => 'ok' | 'fail') {
  const short = shortLivedCredentials(600_000);
  let requests = 0;
  const ecs = await startLoopback(async (req, res) => {
    req.resume();
    requests++;
    const n = requests;
    await new Promise((r) => setTimeout(r, 300)); // a slow agent: callers overlap
    if (answer(n) === 'fail') {
      res.writeHead(500, { 'content-type': 'text/plain' }).end('agent restarting');
      return;
    }
    const c = await short.mint();
    res.writeHead(200, { 'content-type': 'application/json' }).end(
      JSON.stringify({
        AccessKeyId: c.accessKeyId,
        SecretAccessKey: c.secretAccessKey,
        Token: c.sessionToken,
        Expiration: c.expiration?.toISOString(),
      }),
    );
  });
  servers.push(ecs);
  const conn = parseConnection({
    bucket: TEST_BUCKET,
    prefix: `rv-lazy-${Date.now()}-${Math.random().toString(36).slice(2, 6)}`,
    endpoint: short.stsEndpoint,
    region: 'us-east-1',
    credentialSource: 'ecs',
  });
  const env = {
    HOME: mkdtempSync(join(tmpdir(), 'ferry-home-')),
    PATH: process.env.PATH,
    AWS_CONTAINER_CREDENTIALS_FULL_URI: `${ecs.url}/creds`,
  };
  const lazy = lazyS3Client(conn, env);
  const raw = new S3Storage(lazy, conn);
  return { lazy, raw, storage: checkedStorage(raw), requests: () => requests, short };
}

describe('review: lazyS3Client', () => {
  it('first uses at once (lean LIST, small PUT, SDK HEAD) share one credential fetch', {
    timeout: 60_000,
  }, async () => {
    const { lazy, raw, storage, requests } = await setup(() => 'ok');
    expect(lazy.made).toBe(false);
    const [listed, written, stat] = await Promise.all([
      collect(storage.list('')).catch((e: Error) => e),
      storage.write('a.txt', 'alpha', { size: 5 }),
      storage.stat('').catch((e: Error) => e),
    ]);
    expect(listed instanceof Error ? listed.message : 'listed').toBe('listed');
    expect(written.size).toBe(5);
    expect(stat instanceof Error ? stat.message : 'stat').toBe('stat');
    expect(await readText(storage, 'a.txt')).toBe('alpha');
    expect(requests()).toBe(1);
    await raw.removeTree('');
    lazy.destroy();
  });

  it('a failed first credential fetch fails that call clearly, is not kept, and the next call works', {
    timeout: 60_000,
  }, async () => {
    const { lazy, raw, storage, requests, short } = await setup((n) => (n <= 2 ? 'fail' : 'ok'));
    const first = await collect(storage.list('')).catch((e: Error) => e);
    expect(first).toBeInstanceOf(Error);
    expect((first as Error).message).toMatch(/container credentials endpoint .* answered 500/);
    const before = requests();
    expect(before).toBeLessThanOrEqual(2); // the lean path's try and the SDK's
    await storage.write('b.txt', 'bravo', { size: 5 });
    expect(await readText(storage, 'b.txt')).toBe('bravo');
    expect(await collect(storage.list(''))).toHaveLength(1);
    expect(requests()).toBe(Math.max(before, 2) + 1);
    // A refusal (the session's key and token with a wrong secret: SignatureDoesNotMatch) names
    // neither the secret nor the token, on the lean path and the SDK's alike.
    const c = short.minted.at(-1)!;
    const wrong = `${c.secretAccessKey.slice(0, -4)}XXXX`;
    const bad = parseConnection({
      bucket: TEST_BUCKET,
      prefix: 'rv-lazy-refused',
      endpoint: short.stsEndpoint,
      region: 'us-east-1',
      accessKeyId: c.accessKeyId,
      secretAccessKey: wrong,
      sessionToken: c.sessionToken,
    });
    const badLazy = lazyS3Client(bad, { PATH: process.env.PATH });
    const badStorage = checkedStorage(new S3Storage(badLazy, bad));
    for (const op of [
      () => collect(badStorage.list('')),
      () => badStorage.stat('x.txt'),
      () => readText(badStorage, 'x.txt'),
    ]) {
      const err = await op().then(
        () => undefined,
        (e: Error) => e,
      );
      expect(err).toBeInstanceOf(Error);
      const text = `${err!.message} ${JSON.stringify(err)} ${String((err as { cause?: unknown }).cause ?? '')}`;
      expect(text).not.toContain(wrong);
      expect(text).not.toContain(c.sessionToken!);
    }
    badLazy.destroy();
    await raw.removeTree('');
    lazy.destroy();
  });
});
