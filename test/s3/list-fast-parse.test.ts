import { DeleteObjectsCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Client } from '../../src/s3/client.js';
import { listParseCounts, sendListV2 } from '../../src/s3/list-pager.js';
import { ensureBucket, testConnection } from '../support/s3.js';

// Names XML and URLs make hard: entities, `]]>`, spaces and `+`, `%`, non-ASCII, control characters.
const NAMES = [
  'a&b',
  'lt<gt>',
  `quote"apos'`,
  ']]>end',
  'x]]>y<![CDATA[z',
  '&amp;literal',
  'sp ace',
  'plus+sign',
  'pct%20x',
  'über',
  '日本語',
  'emoji😀',
  'tab\there',
  'nl\nx',
  'dir/child',
  'dir/sub/deep',
  'dir&/x',
  'z',
];

describe('ListObjectsV2 with our XML parser (list-xml.ts) gives what the SDK gives', () => {
  const conn = testConnection();
  const client = createS3Client(conn);
  const base = `${conn.prefix}/`;

  beforeAll(async () => {
    await ensureBucket(client, conn.bucket);
    for (const n of NAMES) {
      await client.send(new PutObjectCommand({ Bucket: conn.bucket, Key: base + n, Body: n }));
    }
  });
  afterAll(async () => {
    await client.send(
      new DeleteObjectsCommand({
        Bucket: conn.bucket,
        Delete: { Objects: NAMES.map((n) => ({ Key: base + n })) },
      }),
    );
    client.destroy();
  });

  const both = async (input: {
    Prefix: string;
    Delimiter?: string;
    MaxKeys?: number;
    StartAfter?: string;
    ContinuationToken?: string;
  }) => {
    const before = { ...listParseCounts };
    const fast = await sendListV2(client, { Bucket: conn.bucket, ...input });
    expect(listParseCounts.fast - before.fast, 'parsed by list-xml.ts, not left to the SDK').toBe(1);
    expect(listParseCounts.sdk - before.sdk).toBe(0);
    const sdk = await client.send(new ListObjectsV2Command({ Bucket: conn.bucket, ...input }));
    const { $metadata: _a, ...f } = fast;
    const { $metadata: _b, ...s } = sdk;
    expect(f).toEqual(s);
    expect(fast.$metadata.httpStatusCode).toBe(200);
    return fast;
  };

  it('flat listing: every hard key exactly', async () => {
    const page = await both({ Prefix: base });
    expect(page.Contents?.map((o) => o.Key!.slice(base.length)).sort()).toEqual([...NAMES].sort());
  });

  it('with a delimiter: files and folders', async () => {
    const page = await both({ Prefix: base, Delimiter: '/' });
    expect(page.CommonPrefixes?.map((p) => p.Prefix)).toEqual([`${base}dir&/`, `${base}dir/`]);
  });

  it('paged: StartAfter, then continuation tokens, page by page', async () => {
    let token: string | undefined;
    const keys: string[] = [];
    do {
      const page = await both({
        Prefix: base,
        MaxKeys: 4,
        ...(token ? { ContinuationToken: token } : { StartAfter: `${base}a&b` }),
      });
      keys.push(...(page.Contents ?? []).map((o) => o.Key!));
      token = page.NextContinuationToken;
    } while (token);
    const after = NAMES.filter((n) => Buffer.compare(Buffer.from(n), Buffer.from('a&b')) > 0);
    expect(keys).toEqual(
      after.map((n) => base + n).sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y))),
    );
  });

  it('an empty listing and a missing bucket (the SDK error, unchanged)', async () => {
    await both({ Prefix: `${base}nothing-here/` });
    const err = await sendListV2(client, {
      Bucket: `${conn.bucket}-missing-${Date.now()}`,
      Prefix: '',
    }).catch((e: unknown) => e as { name?: string });
    expect(err).toMatchObject({ name: 'NoSuchBucket' });
  });
});
