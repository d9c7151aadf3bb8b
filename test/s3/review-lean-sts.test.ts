import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { lazyS3Client } from '../../src/s3/client.js';
import { parseConnection } from '../../src/s3/connection.js';
import { leanListStats } from '../../src/s3/list-lean.js';
import { smallObjectStats } from '../../src/s3/small-object.js';
import { checkedStorage } from '../../src/storage/checked.js';
import { S3Storage } from '../../src/storage/s3/s3-storage.js';
import { collect, readText } from '../support/collect.js';
import { startImds } from '../support/imds-server.js';
import { type Loopback, startExpiryProxy } from '../support/loopback.js';
import { TEST_BUCKET } from '../support/s3.js';
import { shortLivedCredentials } from '../support/short-creds.js';

/**
 * Review: the lean S3 path (list-lean.ts, small-object.ts: Ferry's own SigV4 requests beside the
 * SDK) with temporary credentials. The client is made as the CLI makes it (lazyS3Client). Real
 * session credentials from RGW's STS gateway, each declared to live 4 s (short-creds.ts), handed
 * out by an instance-metadata stand-in; an expiry proxy in front of the STS gateway refuses a
 * token past its declared expiry, and the gateway itself refuses a request whose token is missing
 * or whose signature is wrong. Over ~10 s of lists, small PUTs and small GETs: every request is
 * signed right with the current token (the lean path answers itself — a refused lean request
 * would be handed to the SDK, and is counted), and the credentials are renewed on the way.
 */
const servers: Loopback[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

describe('review: the lean path with session tokens (RGW STS)', () => {
  it('lists, small PUTs and GETs stay lean across credential renewals, none past expiry', {
    timeout: 90_000,
  }, async () => {
    const short = shortLivedCredentials(4000);
    const imds = await startImds({ mint: short.mint });
    const proxy = await startExpiryProxy(short.stsEndpoint, short.expiryOf);
    servers.push(imds, proxy);
    const conn = parseConnection({
      bucket: TEST_BUCKET,
      prefix: `rv-lean-sts-${Date.now()}`,
      endpoint: proxy.url,
      region: 'us-east-1',
      credentialSource: 'imds',
      imdsEndpoint: imds.url,
    });
    const env = { HOME: mkdtempSync(join(tmpdir(), 'ferry-home-')), PATH: process.env.PATH };
    const lazy = lazyS3Client(conn, env);
    expect(lazy.leanList).toBeDefined();
    const raw = new S3Storage(lazy, conn);
    const storage = checkedStorage(raw);
    const list0 = { ...leanListStats };
    const small0 = { ...smallObjectStats };
    const until = Date.now() + 10_000;
    let round = 0;
    while (Date.now() < until) {
      await storage.write(`f${round}.txt`, `round ${round}`, { size: `round ${round}`.length });
      const names = (await collect(storage.list(''))).map((e) => e.name).sort();
      expect(names).toHaveLength(round + 1);
      expect(await readText(storage, `f${round}.txt`)).toBe(`round ${round}`);
      round++;
      await new Promise((r) => setTimeout(r, 300));
    }
    console.log(
      `lean+sts: ${round} rounds, ${short.minted.length} credential sets, lists lean ${leanListStats.pages - list0.pages} / to SDK ${leanListStats.handedToSdk - list0.handedToSdk}, small put ${smallObjectStats.put - small0.put} get ${smallObjectStats.get - small0.get} / to SDK ${smallObjectStats.handedToSdk - small0.handedToSdk}, proxy forwarded ${proxy.forwarded} refused ${proxy.rejected}`,
    );
    expect(short.minted.length).toBeGreaterThanOrEqual(3); // renewed on the way
    expect(proxy.rejected).toBe(0); // nothing sent with an expired token
    expect(leanListStats.pages - list0.pages).toBeGreaterThanOrEqual(round);
    expect(leanListStats.handedToSdk - list0.handedToSdk).toBe(0);
    expect(smallObjectStats.put - small0.put).toBe(round);
    expect(smallObjectStats.get - small0.get).toBe(round);
    expect(smallObjectStats.handedToSdk - small0.handedToSdk).toBe(0);
    await raw.removeTree('');
    lazy.destroy();
  });
});
