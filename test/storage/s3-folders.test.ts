import { describe, expect, it } from 'vitest';
import { checkedStorage } from '../../src/storage/checked.js';
import { MemoryStorage } from '../../src/storage/memory/memory-storage.js';
import { copyTree } from '../../src/storage/operations.js';
import { aws } from '../support/aws-cli.js';
import { collect } from '../support/collect.js';
import { countOps } from '../support/count-ops.js';
import { TEST_BUCKET, testS3Storage } from '../support/s3.js';

/** What the folder rules (src/storage/s3/folders.ts) cost and leave in the bucket. */
describe('S3 backend: folders kept as a file system keeps them', () => {
  it('a small-file write checks in parallel: one LIST and a HEAD per ancestor; parentIsFolder skips the HEADs', async () => {
    const { storage, client } = await testS3Storage();
    const ops = countOps(client);
    await storage.write('top.txt', 'x');
    expect(ops).toEqual(['ListObjectsV2Command', 'PutObjectCommand']);
    ops.length = 0;
    await storage.write('a/b/deep.txt', 'x');
    expect([...ops].sort()).toEqual([
      'HeadObjectCommand',
      'HeadObjectCommand',
      'ListObjectsV2Command',
      'PutObjectCommand',
    ]);
    ops.length = 0;
    await storage.write('a/b/next.txt', 'x', { parentIsFolder: true });
    expect(ops).toEqual(['ListObjectsV2Command', 'PutObjectCommand']);
  });

  it('a tree copy into a folder it made skips the ancestor HEADs: one LIST and one PUT per file', async () => {
    const { storage, client } = await testS3Storage();
    const src = checkedStorage(new MemoryStorage());
    for (const p of ['t/a.txt', 't/x/b.txt', 't/x/y/c.txt']) await src.write(p, p);
    const ops = countOps(client);
    await copyTree(src, 't', storage, 'copied');
    const count = (name: string) => ops.filter((o) => o === name).length;
    // mkdir of `copied`: a HEAD and a LIST, then its marker.
    expect([count('HeadObjectCommand'), count('ListObjectsV2Command'), count('PutObjectCommand')]).toEqual([
      1,
      1 + 3,
      1 + 3,
    ]);
  });

  it('a write refused because a file is in the way leaves no key', async () => {
    const { storage, conn } = await testS3Storage();
    await storage.write('f', 'file');
    await expect(storage.write('f/under.txt', 'x')).rejects.toMatchObject({ code: 'NotADirectory' });
    await expect(storage.mkdir('f/sub')).rejects.toMatchObject({ code: 'NotADirectory' });
    const listed = await aws(
      's3api',
      'list-objects-v2',
      '--bucket',
      TEST_BUCKET,
      '--prefix',
      `${conn.prefix}/`,
    );
    expect(listed.Contents.map((o: { Key: string }) => o.Key)).toEqual([`${conn.prefix}/f`]);
  });

  it('mkdir writes a marker for every level it creates, and none for levels that exist', async () => {
    const { storage, conn } = await testS3Storage();
    await storage.write('have/file.txt', 'x');
    await storage.mkdir('have/x/y');
    const listed = await aws(
      's3api',
      'list-objects-v2',
      '--bucket',
      TEST_BUCKET,
      '--prefix',
      `${conn.prefix}/`,
    );
    expect(listed.Contents.map((o: { Key: string }) => o.Key.slice(conn.prefix.length + 1)).sort()).toEqual([
      'have/file.txt',
      'have/x/',
      'have/x/y/',
    ]);
  });

  it('removing the last file writes the folder marker first; a folder with other entries gets none', async () => {
    const { storage, conn, client } = await testS3Storage();
    await storage.write('p/one.txt', '1');
    await storage.write('p/two.txt', '2');
    const ops = countOps(client);
    await storage.remove('p/one.txt');
    expect(ops).not.toContain('PutObjectCommand');
    await storage.remove('p/two.txt');
    const listed = await aws(
      's3api',
      'list-objects-v2',
      '--bucket',
      TEST_BUCKET,
      '--prefix',
      `${conn.prefix}/`,
    );
    expect(listed.Contents.map((o: { Key: string }) => o.Key)).toEqual([`${conn.prefix}/p/`]);
    const head = await aws('s3api', 'head-object', '--bucket', TEST_BUCKET, '--key', `${conn.prefix}/p/`);
    expect(head.ContentType).toBe('application/x-directory');
  });

  it('folder times: a marker dates its folder in listings that ask (one LIST each), a bare prefix stays unknown', async () => {
    const { storage, client } = await testS3Storage();
    await storage.mkdir('dated');
    await storage.write('dated/f.txt', 'x');
    await storage.write('bare/f.txt', 'x');
    const ops = countOps(client);
    const plain = await collect(storage.list(''));
    expect(ops).toEqual(['ListObjectsV2Command']);
    expect(plain.map((e) => e.mtime.getTime())).toEqual([0, 0]);
    ops.length = 0;
    const timed = await collect(storage.list('', { folderTimes: true }));
    expect(ops).toEqual(['ListObjectsV2Command', 'ListObjectsV2Command', 'ListObjectsV2Command']);
    expect(timed[0]!.mtime.getTime()).toBe(0); // bare: no marker, no time
    expect(Math.abs(timed[1]!.mtime.getTime() - Date.now())).toBeLessThan(5 * 60_000);
    // A recursive listing sees markers as it goes: no extra request.
    const tree = await collect(storage.list('', { recursive: true }));
    expect(tree.find((e) => e.path === 'dated')!.mtime.getTime()).toBe(timed[1]!.mtime.getTime());
  });
});
