import { randomBytes } from 'node:crypto';
import { GetObjectCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, describe, expect, it } from 'vitest';
import { createS3Client } from '../../src/s3/client.js';
import type { S3Connection } from '../../src/s3/connection.js';
import { refreshing } from '../../src/s3/credentials/refresh.js';
import { KEEP_ALIVE_FROM, smallObjectStats } from '../../src/s3/small-object.js';
import { checkedStorage } from '../../src/storage/checked.js';
import { S3Storage } from '../../src/storage/s3/s3-storage.js';
import type { Storage } from '../../src/storage/types.js';
import { collect, readAll } from '../support/collect.js';
import { startFaultProxy } from '../support/fault-proxy.js';
import { ensureBucket, secondUser, testConnection, testS3 } from '../support/s3.js';

// The lean small-object path (src/s3/small-object.ts) against the SDK path on the same store:
// the same settings must reach the object, the same errors must come out.

const sdkEnv = { ...process.env, FERRY_LEAN_S3: '0' };
const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups) await c().catch(() => {});
});

function storageOn(client: S3Client, conn: S3Connection): Storage {
  return checkedStorage(new S3Storage(client, conn));
}

/** One connection, two clients: lean where it applies, and the SDK only. */
async function pair(overrides: Partial<S3Connection> = {}) {
  const conn = testConnection(overrides);
  const client = createS3Client(conn);
  await ensureBucket(client, conn.bucket);
  const sdkClient = createS3Client(conn, sdkEnv);
  const lean = storageOn(client, conn);
  cleanups.push(() => new S3Storage(client, conn).removeTree(''));
  return { conn, client, lean, sdk: storageOn(sdkClient, conn) };
}

async function failure(p: Promise<unknown>): Promise<{ name: string; code?: string; message: string }> {
  try {
    await p;
  } catch (err) {
    const e = err as { name: string; code?: string; message: string };
    return { name: e.name, code: e.code, message: e.message };
  }
  throw new Error('expected a failure');
}

const key32 = randomBytes(32).toString('base64');

describe('lean small-object path: settings reach the object as on the SDK path', () => {
  const cases: [string, Partial<S3Connection>][] = [
    ['SSE-C', { sseCustomerKey: key32 }],
    [
      'metadata, Cache-Control, requester pays',
      { metadata: { team: 'ops' }, cacheControl: 'max-age=60', requesterPays: true },
    ],
    ['storage class', { storageClass: 'STANDARD_IA' }],
  ];
  for (const [what, settings] of cases) {
    it(what, async () => {
      const { conn, client, lean, sdk } = await pair(settings);
      const body = randomBytes(16 * 1024);
      const mtime = new Date('2024-05-06T07:08:09Z');
      const before = { ...smallObjectStats };
      // The same write through each: undefined when stored, else the error (named as lean.bin).
      const write = (storage: typeof lean, name: string) =>
        storage
          .write(name, body, {
            size: body.length,
            mtime,
            contentType: 'text/x-ferry',
            metadata: { own: '1' },
          })
          .then(
            () => undefined,
            (err: Error) => err.message.replaceAll(name, 'lean.bin'),
          );
      const viaLean = await write(lean, 'lean.bin');
      // SSE-C writes take the SDK's path (its echo check removes a plaintext write), the rest
      // the lean path (or handed to the SDK by it).
      if (settings.sseCustomerKey) expect(smallObjectStats).toMatchObject({ put: before.put });
      else
        expect(smallObjectStats.put + smallObjectStats.handedToSdk).toBeGreaterThan(
          before.put + before.handedToSdk,
        );
      const viaSdk = await write(sdk, 'sdk.bin');
      // Both stored it, or both refused it the same way (a class this store does not have).
      expect(viaLean).toEqual(viaSdk);
      if (viaLean !== undefined) return;
      expect(smallObjectStats.put).toBe(before.put + (settings.sseCustomerKey ? 0 : 1)); // on the lean path
      const ssec = settings.sseCustomerKey ? { SSECustomerAlgorithm: 'AES256', SSECustomerKey: key32 } : {};
      const head = (name: string) =>
        client.send(new HeadObjectCommand({ Bucket: conn.bucket, Key: `${conn.prefix}/${name}`, ...ssec }));
      const [a, b] = [await head('lean.bin'), await head('sdk.bin')];
      for (const field of [
        'ContentType',
        'ContentLength',
        'Metadata',
        'CacheControl',
        'StorageClass',
        'SSECustomerAlgorithm',
      ] as const)
        expect([field, a[field]]).toEqual([field, b[field]]);
      expect(a.Metadata).toMatchObject({ ...settings.metadata, own: '1' });
      expect(a.ContentType).toBe('text/x-ferry');
      if (settings.sseCustomerKey) {
        expect(a.SSECustomerAlgorithm).toBe('AES256');
        // Without the key the object cannot be read: it really is encrypted with it.
        await expect(
          client.send(new GetObjectCommand({ Bucket: conn.bucket, Key: `${conn.prefix}/lean.bin` })),
        ).rejects.toThrow();
      }
      const gets = smallObjectStats.get;
      expect((await readAll(await lean.read('lean.bin'))).equals(body)).toBe(true);
      expect(smallObjectStats.get).toBe(gets + 1); // read on the lean path
      expect((await readAll(await sdk.read('lean.bin'))).equals(body)).toBe(true);
      expect((await lean.stat('lean.bin')).mtime.getTime()).toBe(mtime.getTime());
    });
  }

  it('hard keys (space, +, %, unicode, ]]>, quotes) go up and come down under their own names', async () => {
    const { conn, client, lean, sdk } = await pair();
    const names = [
      'a b+c%d.txt',
      'ünï cödé/x.txt',
      'x]]>y.txt',
      "q'!()*~.txt",
      'two  spaces.txt',
      '日本/語.txt',
    ];
    const before = { ...smallObjectStats };
    for (const n of names) await lean.write(n, Buffer.from(n));
    expect(smallObjectStats.put).toBe(before.put + names.length);
    for (const n of names) {
      expect((await readAll(await lean.read(n))).toString()).toBe(n);
      expect((await readAll(await sdk.read(n))).toString()).toBe(n);
      const head = await client.send(
        new HeadObjectCommand({ Bucket: conn.bucket, Key: `${conn.prefix}/${n}` }),
      );
      expect(head.ContentLength).toBe(Buffer.byteLength(n));
    }
    expect(smallObjectStats.get).toBe(before.get + names.length);
    const listed = (await collect(lean.list('', { recursive: true })))
      .filter((e) => e.type === 'file')
      .map((e) => e.path)
      .sort();
    expect(listed).toEqual([...names].sort());
  });
});

describe('lean small-object path: errors and retries as on the SDK path', () => {
  it('NoSuchBucket, bad credentials and AccessDenied come out the same', async () => {
    const missing = testConnection({ bucket: `ferry-missing-${randomBytes(4).toString('hex')}` });
    const badKey = testConnection({ secretAccessKey: 'not-the-secret-at-all-0000000000000000000' });
    const other = secondUser();
    const denied = testConnection(other); // the second user on the first user's bucket
    for (const conn of [missing, badKey, denied]) {
      const lean = storageOn(createS3Client(conn), conn);
      const sdk = storageOn(createS3Client(conn, sdkEnv), conn);
      const before = smallObjectStats.handedToSdk;
      // targetListed: straight to the PutObject (as sync writes), no LIST before it.
      const w = [
        await failure(lean.write('f.txt', Buffer.from('x'), { targetListed: true })),
        await failure(sdk.write('f.txt', Buffer.from('x'), { targetListed: true })),
      ];
      expect(w[0]).toEqual(w[1]);
      const r = [await failure(lean.read('f.txt')), await failure(sdk.read('f.txt'))];
      expect(r[0]).toEqual(r[1]);
      // The lean path tried the PUT and the GET, then handed each to the SDK.
      expect(smallObjectStats.handedToSdk).toBeGreaterThanOrEqual(before + 2);
      expect(w[0]?.code).toMatch(/NotFound|PermissionDenied|AuthFailed|Unauthenticated/);
    }
  });

  it('a 5xx is retried: the lean PUT/GET fails once, the SDK retry stores and reads the file', async () => {
    const proxy = await startFaultProxy(testS3().endpoint);
    cleanups.push(() => proxy.close());
    const { lean } = await pair({ endpoint: proxy.endpoint });
    let failed = 0;
    proxy.decide = (r) => ((r.op === 'PutObject' || r.op === 'GetObject') && failed++ < 1 ? 'fail' : 'pass');
    const body = randomBytes(1000);
    const [puts, gets] = [proxy.count('PutObject'), proxy.count('GetObject')]; // CreateBucket counts as a PUT
    await lean.write('r.bin', body);
    expect(proxy.count('PutObject')).toBe(puts + 2);
    failed = 0;
    expect((await readAll(await lean.read('r.bin'))).equals(body)).toBe(true);
    expect(proxy.count('GetObject')).toBe(gets + 2);
  });

  it('asks the credential provider on every request: renewed credentials are used', async () => {
    const conn = testConnection();
    const first = { accessKeyId: conn.accessKeyId!, secretAccessKey: conn.secretAccessKey! };
    const second = secondUser();
    let fetches = 0;
    const provider = refreshing(
      async () => {
        fetches++;
        return fetches === 1
          ? { ...first, expiration: new Date(Date.now() + 1_000) }
          : { ...second, expiration: new Date(Date.now() + 3_600_000) };
      },
      { aheadFraction: 0.5 },
    );
    const client = createS3Client(conn, process.env, {
      credentials: {
        provider,
        source: () => undefined,
        describe: 'test',
        sts: { endpoint: undefined, region: 'us-east-1' },
        identitySts: { endpoint: undefined, region: 'us-east-1' },
      } as never,
    });
    await ensureBucket(client, conn.bucket);
    const s = storageOn(client, conn);
    cleanups.push(() => storageOn(createS3Client(conn), conn).removeTree!(''));
    const puts = smallObjectStats.put;
    await s.write('one.txt', Buffer.from('1'));
    expect(smallObjectStats.put).toBe(puts + 1);
    await new Promise((r) => setTimeout(r, 700));
    // Renewed to the second user, who may not write here: the lean request was signed with it.
    expect((await failure(s.write('two.txt', Buffer.from('2')))).code).toBe('PermissionDenied');
    expect(fetches).toBe(2);
  });
});

describe('lean small-object path: fresh connections only while few GETs run', () => {
  it('one read at a time asks for Connection: close; many at once keep their connections', async () => {
    const { lean } = await pair({ freshConnectionGets: true });
    const names = Array.from({ length: 3 * KEEP_ALIVE_FROM }, (_, i) => `ka/${i}.bin`);
    for (const n of names) await lean.write(n, randomBytes(16 * 1024));
    let before = { ...smallObjectStats };
    for (const n of names.slice(0, 3)) expect((await readAll(await lean.read(n))).length).toBe(16 * 1024);
    expect(smallObjectStats.get - before.get).toBe(3);
    expect(smallObjectStats.closedGets - before.closedGets).toBe(3);
    before = { ...smallObjectStats };
    const bodies = await Promise.all(names.map(async (n) => readAll(await lean.read(n))));
    expect(bodies.every((b) => b.length === 16 * 1024)).toBe(true);
    expect(smallObjectStats.get - before.get).toBe(names.length);
    // Only the GETs sent while fewer than KEEP_ALIVE_FROM were running asked for a fresh one.
    expect(smallObjectStats.closedGets - before.closedGets).toBeLessThanOrEqual(KEEP_ALIVE_FROM);
    expect(smallObjectStats.closedGets - before.closedGets).toBeGreaterThan(0);
  });
});
