import { HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Client } from '../../src/s3/client.js';
import { ferry, requireBuiltCli } from '../support/cli.js';
import { ensureBucket, testConnection } from '../support/s3.js';

/**
 * Issue 10 items 2–3: `ferry meta` shows a file's headers, metadata and class; `meta set|rm` and
 * `set-class` change them in place with one server-side copy that keeps everything else. What S3
 * holds afterwards is read with HeadObject.
 */
describe('ferry meta and set-class', () => {
  const conn = testConnection();
  const base = `s3://${conn.bucket}/${conn.prefix}`;
  let client: S3Client;
  const head = (key: string) =>
    client.send(new HeadObjectCommand({ Bucket: conn.bucket, Key: `${conn.prefix}/${key}` }));
  beforeAll(async () => {
    client = createS3Client(conn);
    await ensureBucket(client, conn.bucket);
    await client.send(
      new PutObjectCommand({
        Bucket: conn.bucket,
        Key: `${conn.prefix}/f.txt`,
        Body: 'some bytes',
        ContentType: 'text/plain',
        ContentDisposition: 'attachment',
        Metadata: { keep: 'me', mtime: '1700000000' },
      }),
    );
    await requireBuiltCli();
  });
  afterAll(() => client?.destroy());

  it('meta shows headers and metadata (text and JSON)', async () => {
    const text = await ferry(['meta', `${base}/f.txt`]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^content-type\s+text\/plain$/m);
    expect(text.stdout).toMatch(/^content-disposition\s+attachment$/m);
    expect(text.stdout).toMatch(/^meta keep\s+me$/m);
    const json = JSON.parse((await ferry(['meta', 'show', '--json', `${base}/f.txt`])).stdout);
    expect(json).toMatchObject({ storageClass: 'STANDARD', metadata: { keep: 'me' } });
  });

  it('meta set and rm change only what they name, in place', async () => {
    const before = await head('f.txt');
    const set = await ferry([
      'meta',
      'set',
      `${base}/f.txt`,
      'owner=alice',
      'note=two words',
      '--cache-control',
      'max-age=60',
      '--content-type',
      'text/markdown',
    ]);
    expect(set.code).toBe(0);
    let h = await head('f.txt');
    expect(h.Metadata).toEqual({ keep: 'me', mtime: '1700000000', owner: 'alice', note: 'two words' });
    expect(h.CacheControl).toBe('max-age=60');
    expect(h.ContentType).toBe('text/markdown');
    expect(h.ContentDisposition).toBe('attachment');
    expect(h.ContentLength).toBe(before.ContentLength);

    expect((await ferry(['meta', 'rm', `${base}/f.txt`, 'owner'])).code).toBe(0);
    expect((await ferry(['meta', 'set', `${base}/f.txt`, '--cache-control', ''])).code).toBe(0);
    h = await head('f.txt');
    expect(h.Metadata).toEqual({ keep: 'me', mtime: '1700000000', note: 'two words' });
    expect(h.CacheControl).toBeUndefined();
    expect((await ferry(['cat', `${base}/f.txt`])).stdout).toBe('some bytes');
  });

  it('refuses what it cannot do, changing nothing', async () => {
    const before = await head('f.txt');
    const missing = await ferry(['meta', 'rm', `${base}/f.txt`, 'nope']);
    expect(missing.code).toBe(3);
    expect((await ferry(['meta', 'set', `${base}/f.txt`, 'bad name=x'])).code).toBe(2);
    expect((await ferry(['meta', 'set', `${base}/f.txt`, `big=${'x'.repeat(3000)}`])).stderr).toMatch(
      /at most 2048/,
    );
    expect((await ferry(['meta', 'set', `${base}/f.txt`])).code).toBe(2);
    expect((await ferry(['meta', `${base}/nothing`])).code).toBe(3);
    expect((await ferry(['meta', '/etc/hostname'])).code).toBe(2);
    // RGW offers STANDARD only unless placements are configured: another class is refused, saying so.
    const cls = await ferry(['set-class', 'GLACIER', `${base}/f.txt`]);
    expect(cls.code).toBe(2);
    expect(cls.stderr).toMatch(/refused storage class GLACIER/);
    expect((await head('f.txt')).ETag).toBe(before.ETag);
  });

  it('set-class -r walks a folder; without -r a folder is refused', async () => {
    await ferry(['mkdir', `${base}/d`]);
    for (const n of ['a', 'b'])
      await client.send(new PutObjectCommand({ Bucket: conn.bucket, Key: `${conn.prefix}/d/${n}`, Body: n }));
    expect((await ferry(['set-class', 'STANDARD', `${base}/d`])).code).toBe(5);
    const r = await ferry(['set-class', '-r', 'STANDARD', `${base}/d`]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/2 file\(s\) now in STANDARD/);
    expect((await head('d/a')).StorageClass ?? 'STANDARD').toBe('STANDARD');
  });
});
