import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import type * as http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkedStorage } from '../../src/storage/checked.js';
import { LocalStorage } from '../../src/storage/local/local-storage.js';
import type { Storage } from '../../src/storage/types.js';
import { runSync, type SyncSide } from '../../src/sync/index.js';
import { collect } from '../support/collect.js';
import { type Loopback, startLoopback } from '../support/loopback.js';
import { fakeStoreStorages } from '../support/s3.js';

/**
 * Review of the listing loop (src/storage/s3/listing.ts `pages`) against a store that answers
 * ListObjectsV2 pages it should not: a loopback HTTP server answers crafted XML. A page that says
 * it is truncated but gives no continuation token, or that gives back the token it was asked
 * with, must fail the listing: ending it there shows a folder smaller than it is (a `sync
 * --mirror` from it then deletes what it did not see), and following the same token lists the
 * same page for ever. rclone refuses both ("s3 protocol error: received listing v2 with
 * IsTruncated set and no NextContinuationToken").
 */

type Page = { keys: string[]; truncated?: boolean; token?: string };

const xml = (p: Page) =>
  `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>fake</Name><Prefix>p/</Prefix><KeyCount>${p.keys.length}</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>${p.truncated ? 'true' : 'false'}</IsTruncated>${p.token ? `<NextContinuationToken>${p.token}</NextContinuationToken>` : ''}${p.keys
    .map(
      (k) =>
        `<Contents><Key>p/${k}</Key><LastModified>2026-01-01T00:00:00.000Z</LastModified><ETag>"0"</ETag><Size>3</Size><StorageClass>STANDARD</StorageClass></Contents>`,
    )
    .join('')}</ListBucketResult>`;

describe('review: a listing never ends early or loops on a bad continuation', () => {
  let store: Loopback;
  /** The page for a request, by its continuation token ('' for the first). */
  let answer: (token: string) => { status?: number; body: string };
  let lists = 0;

  beforeAll(async () => {
    store = await startLoopback((req: http.IncomingMessage, res: http.ServerResponse) => {
      req.resume();
      const url = new URL(req.url ?? '/', 'http://x');
      if (req.method !== 'GET' || url.searchParams.get('list-type') !== '2') {
        res.writeHead(501).end();
        return;
      }
      lists++;
      const a = answer(url.searchParams.get('continuation-token') ?? '');
      res.writeHead(a.status ?? 200, { 'content-type': 'application/xml' }).end(a.body);
    });
  });
  afterAll(async () => {
    await store.close();
  });

  const storages = () => fakeStoreStorages(store.url);
  const outcome = (s: Storage) =>
    collect(s.list('', { recursive: true })).then(
      (entries) => entries.map((e) => e.path),
      (err: Error) => err,
    );

  it('IsTruncated without NextContinuationToken: the listing fails (it ended after page 1)', async () => {
    answer = () => ({ body: xml({ keys: ['a', 'b'], truncated: true }) });
    for (const [name, s] of storages()) {
      const got = await outcome(s);
      expect(got, name).toBeInstanceOf(Error);
      expect((got as Error).message, name).toMatch(/truncated.*no continuation token/i);
    }
  });

  it('the token asked with given back: the listing fails (it listed the same page for ever)', async () => {
    // The store gives up after 20 rounds (the listing would otherwise never end): then it has
    // listed `a` twenty times.
    let rounds = 0;
    answer = (token) =>
      token === '' || ++rounds < 20
        ? { body: xml({ keys: ['a'], truncated: true, token: 'T1' }) }
        : { body: xml({ keys: [] }) };
    for (const [name, s] of storages()) {
      rounds = 0;
      const got = await outcome(s);
      expect(got, name).toBeInstanceOf(Error);
      expect((got as Error).message, name).toMatch(/same continuation token/i);
      expect(rounds, name).toBe(1);
    }
  });

  it('a 200 whose body is an S3 error fails the listing (not an empty folder)', async () => {
    answer = () => ({
      body: '<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message></Error>',
    });
    for (const [name, s] of storages()) expect(await outcome(s), name).toBeInstanceOf(Error);
  });

  it('a 200 with an empty body or a web page is no listing: it fails, never an empty folder', async () => {
    // A wrong endpoint (a web server answering every URL) or a cut answer: the SDK's parser takes
    // either for an empty page, so `ferry ls` showed an empty bucket and a copy from it "succeeded".
    for (const body of ['<html><head><title>Welcome</title></head><body>It works!</body></html>', '']) {
      answer = () => ({ body });
      for (const [name, s] of storages()) {
        const got = await outcome(s);
        expect(got, `${name} ${JSON.stringify(body.slice(0, 12))}`).toBeInstanceOf(Error);
        expect((got as { code?: string }).code, name).toBe('Transient');
      }
    }
  });

  it('sync --mirror from a listing truncated without a token deletes nothing', async () => {
    answer = () => ({ body: xml({ keys: ['a', 'b'], truncated: true }) });
    const dir = await mkdtemp(join(tmpdir(), 'ferry-review-pages-'));
    try {
      for (const k of ['a', 'b', 'c', 'd']) await writeFile(join(dir, k), 'abc');
      const [, s3] = storages()[0]!;
      const side = (storage: Storage, root: string): SyncSide => ({ storage, root, display: root });
      const res = await runSync(side(s3, ''), side(checkedStorage(new LocalStorage(dir)), ''), {
        mode: 'mirror',
        compare: 'size',
      }).catch((err: Error) => err);
      expect((await readdir(dir)).sort()).toEqual(['a', 'b', 'c', 'd']);
      expect(res).toBeInstanceOf(Error);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a well-formed listing of three pages still lists every key once', async () => {
    answer = (token) =>
      token === ''
        ? { body: xml({ keys: ['a', 'b'], truncated: true, token: 'T1' }) }
        : token === 'T1'
          ? { body: xml({ keys: ['c'], truncated: true, token: 'T2' }) }
          : { body: xml({ keys: ['d'] }) };
    for (const [name, s] of storages()) {
      const before = lists;
      expect(await outcome(s), name).toEqual(['a', 'b', 'c', 'd']);
      expect(lists - before, name).toBe(3);
    }
  });
});
