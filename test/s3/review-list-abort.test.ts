import type * as http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Loopback, startLoopback } from '../support/loopback.js';
import { fakeStoreStorages } from '../support/s3.js';

/**
 * An aborted listing gives up the LIST in flight: a store that takes the request and says
 * nothing must not hold a stopped sync or job until the S3 idle timeout (120 s) and the SDK's
 * retries. The loopback store answers the first page (truncated) and never answers the second.
 */
describe('review: a listing gives up its LIST in flight when aborted', () => {
  let store: Loopback;
  const held: http.ServerResponse[] = [];
  let lists = 0;

  beforeAll(async () => {
    store = await startLoopback((req: http.IncomingMessage, res: http.ServerResponse) => {
      req.resume();
      const url = new URL(req.url ?? '/', 'http://x');
      lists++;
      if (url.searchParams.get('continuation-token')) {
        held.push(res); // a store that never answers
        return;
      }
      res
        .writeHead(200, { 'content-type': 'application/xml' })
        .end(
          `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>fake</Name><Prefix>p/</Prefix><KeyCount>1</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>true</IsTruncated><NextContinuationToken>T1</NextContinuationToken><Contents><Key>p/a</Key><LastModified>2026-01-01T00:00:00.000Z</LastModified><ETag>"0"</ETag><Size>3</Size><StorageClass>STANDARD</StorageClass></Contents></ListBucketResult>`,
        );
    });
  });
  afterAll(async () => {
    for (const res of held) res.destroy();
    await store.close();
  });

  const storages = () => fakeStoreStorages(store.url);

  it('aborted while page 2 is asked for: the listing ends at once, no new LIST is sent', async () => {
    for (const [name, s] of storages()) {
      const ac = new AbortController();
      const started = performance.now();
      const seen: string[] = [];
      const outcome = (async () => {
        for await (const e of s.list('', { recursive: true, signal: ac.signal })) {
          seen.push(e.path);
          setTimeout(() => ac.abort(), 300);
        }
      })().then(
        () => 'ended',
        (err: Error) => err,
      );
      const got = await Promise.race([
        outcome,
        new Promise((r) => setTimeout(() => r('still waiting after 5 s'), 5000)),
      ]);
      expect(got, name).toBeInstanceOf(Error);
      expect((got as Error).name, name).toBe('AbortError');
      expect(seen, name).toEqual(['a']);
      expect(performance.now() - started, name).toBeLessThan(3000);
      const before = lists;
      await new Promise((r) => setTimeout(r, 500));
      expect(lists, `${name}: no LIST after the abort`).toBe(before);
    }
  });
});
