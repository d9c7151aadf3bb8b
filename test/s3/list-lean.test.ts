import { randomBytes } from 'node:crypto';
import { DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { createS3Client, lazyS3Client } from '../../src/s3/client.js';
import type { S3Connection } from '../../src/s3/connection.js';
import { leanListStats } from '../../src/s3/list-lean.js';
import { checkedStorage } from '../../src/storage/checked.js';
import { S3Storage } from '../../src/storage/s3/s3-storage.js';
import { collect } from '../support/collect.js';
import { startFaultProxy } from '../support/fault-proxy.js';
import { clientWithKeys, secondUser, testConnection, testS3 } from '../support/s3.js';

// The lean ListObjectsV2 (src/s3/list-lean.ts: our SigV4, our XML parser, no SDK) against the
// SDK's on the same store: the same listings, the same errors, a 5xx retried.

const sdkEnv = { ...process.env, FERRY_LEAN_S3: '0' };

/** Keys URLs, SigV4 and XML make hard. */
const NAMES = [
  'a b+c%d.txt',
  'sp ace+%/inner.txt',
  'ünï cödé/x.txt',
  'x]]>y.txt',
  `q'!()*~"&<>.txt`,
  'two  spaces.txt',
  ' lead and trail ',
  '日本/語.txt',
  'emoji😀',
  'tab\there',
  '&amp;literal',
  'dir/sub/deep',
  `${'long-'.repeat(180)}end`, // 905 bytes
  'z',
];

/** A storage listing on the lean path (its SDK client made only if needed) and one on the SDK only. */
function pair(conn: S3Connection) {
  const lazy = lazyS3Client(conn);
  return {
    lazy,
    lean: checkedStorage(new S3Storage(lazy, conn)),
    sdk: checkedStorage(new S3Storage(createS3Client(conn, sdkEnv), conn)),
  };
}

const shape = (entries: { path: string; type: string; size: number; mtime: Date; etag?: string }[]) =>
  entries.map((e) => [e.path, e.type, e.size, e.mtime.toISOString(), e.etag]);

describe('lean ListObjectsV2 lists what the SDK lists', () => {
  const conn = testConnection();
  clientWithKeys(conn, NAMES);
  const base = `${conn.prefix}/`;

  it('hard key names, recursive and folder by folder, without ever making the SDK client', async () => {
    const { lazy, lean, sdk } = pair(conn);
    const before = { ...leanListStats };
    for (const [path, recursive] of [
      ['', true],
      ['', false],
      ['sp ace+%', false],
      ['ünï cödé', false],
      ['dir', true],
    ] as const) {
      const a = await collect(lean.list(path, { recursive }));
      const b = await collect(sdk.list(path, { recursive }));
      expect(a.length, `${path} ${recursive}`).toBeGreaterThan(0);
      expect(shape(a), `${path} ${recursive}`).toEqual(shape(b));
    }
    expect(leanListStats.pages - before.pages).toBeGreaterThanOrEqual(5);
    expect(leanListStats.handedToSdk).toBe(before.handedToSdk);
    expect(lazy.made, 'the SDK client was never needed').toBe(false);
    await lean.close?.();
  });

  it('pages of 3 keys: continuation tokens and StartAfter travel as the SDK sends them', async () => {
    const lazy = lazyS3Client(conn);
    const lean = new S3Storage(lazy, conn);
    const sdk = new S3Storage(createS3Client(conn, sdkEnv), conn);
    const walk = async (s: S3Storage, startAfter?: string) => {
      const keys: string[] = [];
      let token: string | undefined;
      do {
        const page = await s.listPage({
          Prefix: base,
          MaxKeys: 3,
          ContinuationToken: token,
          StartAfter: token ? undefined : startAfter,
        });
        keys.push(...(page.Contents ?? []).map((o) => o.Key!));
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
      return keys;
    };
    const all = await walk(lean);
    expect(all).toHaveLength(NAMES.length);
    expect(all).toEqual(await walk(sdk));
    expect(await walk(lean, `${base}a b+c%d.txt`)).toEqual(await walk(sdk, `${base}a b+c%d.txt`));
    expect(lazy.made).toBe(false);
    lazy.destroy();
  });

  it('an empty folder and a missing one: as on the SDK path', async () => {
    const { lean, sdk } = pair(conn);
    const missing = async (s: typeof lean) =>
      collect(s.list('no-such-folder')).then(
        () => 'listed',
        (e: { code?: string; message: string }) => [e.code, e.message],
      );
    expect(await missing(lean)).toEqual(await missing(sdk));
    expect(await missing(lean)).not.toBe('listed');
  });
});

describe('lean ListObjectsV2: errors and retries as on the SDK path', () => {
  const failure = (s: ReturnType<typeof pair>['lean']) =>
    collect(s.list('', { recursive: true })).then(
      () => 'listed',
      (e: { name: string; code?: string; message: string }) => ({
        name: e.name,
        code: e.code,
        message: e.message,
      }),
    );

  it('NoSuchBucket, a wrong secret and AccessDenied come out the same', async () => {
    const cases = [
      testConnection({ bucket: `ferry-missing-${randomBytes(4).toString('hex')}` }),
      testConnection({ secretAccessKey: 'not-the-secret-at-all-0000000000000000000' }),
      testConnection(secondUser()), // the second user on the first user's bucket
    ];
    for (const conn of cases) {
      const { lazy, lean, sdk } = pair(conn);
      const before = leanListStats.handedToSdk;
      const [a, b] = [await failure(lean), await failure(sdk)];
      expect(a).not.toBe('listed');
      expect(a).toEqual(b);
      expect(leanListStats.handedToSdk, 'tried lean, then the SDK').toBe(before + 1);
      expect(lazy.made).toBe(true);
      expect((a as { code?: string }).code).toMatch(/NotFound|PermissionDenied|AuthFailed|Unauthenticated/);
    }
  });

  it('a 500 on the lean LIST is sent again by the SDK, which lists', async () => {
    const proxy = await startFaultProxy(testS3().endpoint);
    try {
      const conn = testConnection({ endpoint: proxy.endpoint });
      const client = createS3Client(testConnection({ prefix: conn.prefix }));
      await client.send(
        new PutObjectCommand({ Bucket: conn.bucket, Key: `${conn.prefix}/f.txt`, Body: 'f' }),
      );
      let failed = 0;
      proxy.decide = (r) => (r.op === 'ListObjects' && failed++ < 1 ? 'fail' : 'pass');
      const { lazy, lean } = pair(conn);
      const lists = proxy.count('ListObjects');
      expect((await collect(lean.list(''))).map((e) => e.path)).toEqual(['f.txt']);
      expect(proxy.count('ListObjects')).toBe(lists + 2); // the lean one (500), the SDK's
      expect(lazy.made).toBe(true);
      // The next listing starts lean again (and succeeds there).
      const pages = leanListStats.pages;
      expect((await collect(lean.list(''))).map((e) => e.path)).toEqual(['f.txt']);
      expect(leanListStats.pages).toBe(pages + 1);
      await client.send(new DeleteObjectCommand({ Bucket: conn.bucket, Key: `${conn.prefix}/f.txt` }));
      client.destroy();
    } finally {
      await proxy.close();
    }
  });
});
