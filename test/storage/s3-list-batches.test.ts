import { DeleteObjectsCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ListPage } from '../../src/storage/s3/listing.js';
import type { Entry, ListOptions, Storage } from '../../src/storage/types.js';
import { testS3Storage } from '../support/s3.js';

/**
 * S3Storage.listBatches (what `ferry ls` reads) gives exactly what `list` gives — the same entries
 * in the same order, the same errors — a page at a time, through checkedStorage. Pages are made
 * two keys long, so a small tree spans many pages and a folder's keys cross page boundaries.
 */
describe('S3 backend: listBatches is list, a page at a time', () => {
  let ctx: Awaited<ReturnType<typeof testS3Storage>>;
  let s: Storage;

  beforeAll(async () => {
    ctx = await testS3Storage();
    s = ctx.storage;
    const raw = ctx.raw as unknown as { listPage: ListPage };
    const pageOf = raw.listPage;
    raw.listPage = (input) => pageOf({ ...input, MaxKeys: input.MaxKeys ?? 2 });
    for (const f of [
      'a.txt',
      'a-b',
      'b',
      'a/x.txt',
      'a/y/z.txt',
      'ab/c.txt',
      'sp ace+%.txt',
      'ü/ñ.txt',
      '😀',
    ]) {
      await s.write(`t/${f}`, f);
    }
    await s.mkdir('t/empty');
    await s.mkdir('t/a/marked');
    await s.write('t/kind.txt', 'file');
    // A Hadoop folder marker and a key no path can show as itself (`a//b`: an empty segment).
    for (const key of ['t/hadoop_$folder$', 't/odd//name']) {
      await ctx.client.send(
        new PutObjectCommand({ Bucket: ctx.conn.bucket, Key: `${ctx.conn.prefix}/${key}`, Body: '' }),
      );
    }
  });
  afterAll(async () => {
    if (!ctx) return;
    const { Contents = [] } = await ctx.client.send(
      new ListObjectsV2Command({ Bucket: ctx.conn.bucket, Prefix: `${ctx.conn.prefix}/` }),
    );
    if (Contents.length > 0) {
      await ctx.client.send(
        new DeleteObjectsCommand({
          Bucket: ctx.conn.bucket,
          Delete: { Objects: Contents.map((o) => ({ Key: o.Key! })) },
        }),
      );
    }
    await s.close?.();
  });

  const viaList = async (path: string, options: ListOptions) => {
    const out: Entry[] = [];
    for await (const e of s.list(path, options)) out.push(e);
    return out;
  };
  const viaBatches = async (path: string, options: ListOptions) => {
    const batches: Entry[][] = [];
    for await (const b of s.listBatches!(path, options)) batches.push(b);
    return batches;
  };
  const errorOf = (p: Promise<unknown>) =>
    p.then(
      () => undefined,
      (e: unknown) => (e as { code?: string }).code,
    );

  it('S3Storage has it, through checkedStorage', () => {
    expect(typeof s.listBatches).toBe('function');
  });

  it.each<[string, string, ListOptions]>([
    ['children', 't', {}],
    ['children with folder times (ls -l)', 't', { folderTimes: true }],
    ['recursive', 't', { recursive: true }],
    ['a subfolder', 't/a', {}],
    ['the root', '', {}],
    ['paged', 't', { limit: 3, startAfter: 'a-b' }],
    ['paged, recursive', 't', { recursive: true, limit: 4, startAfter: 'a/' }],
  ])('%s: the same entries in the same order', async (_what, path, options) => {
    const listed = await viaList(path, options);
    const batches = await viaBatches(path, options);
    expect(batches.every((b) => b.length > 0)).toBe(true);
    expect(batches.flat()).toEqual(listed);
    expect(listed.length).toBeGreaterThan(0);
  });

  it('a page at a time: a listing of many pages comes in several batches', async () => {
    const batches = await viaBatches('t', { recursive: true });
    expect(batches.length).toBeGreaterThan(3);
    expect(batches.flat().map((e) => e.path)).toContain('t/hadoop');
    expect(batches.flat().map((e) => e.path)).toContain('t/odd/\u201b/name');
  });

  it('folder times are filled in as list fills them', async () => {
    const entries = (await viaBatches('t/a', { folderTimes: true })).flat();
    const marked = entries.find((e) => e.path === 't/a/marked');
    expect(marked?.type).toBe('dir');
    expect(marked?.mtime.getTime()).toBeGreaterThan(0);
  });

  it('the same errors: NotFound, NotADirectory, InvalidArgument, an aborted signal', async () => {
    for (const [path, options, code] of [
      ['nope', {}, 'NotFound'],
      ['t/kind.txt', {}, 'NotADirectory'],
      ['t', { limit: 0 }, 'InvalidArgument'],
      ['nope', { limit: 2 }, 'NotFound'],
    ] as [string, ListOptions, string][]) {
      expect(await errorOf(viaBatches(path, options)), path).toBe(code);
      expect(await errorOf(viaList(path, options)), path).toBe(code);
    }
    const signal = AbortSignal.abort();
    await expect(viaBatches('t', { signal })).rejects.toMatchObject({ name: 'AbortError' });
  });
});
