import { PutObjectCommand } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { countOps } from '../support/count-ops.js';
import { TEST_BUCKET, testS3Storage } from '../support/s3.js';

/**
 * What `stat` costs on S3 and what it answers when other tools left keys Ferry would not make
 * (src/storage/s3/stat.ts): a folder one LIST and no HEAD (an SFTP `ls -l dir` or `cd dir`), a
 * file a LIST and a HEAD, a missing path a LIST and a HEAD; a name with an extension HEAD first.
 */
describe('S3 backend: stat', () => {
  async function setup() {
    const { storage, client, conn } = await testS3Storage();
    const put = (key: string, body = 'x', ContentType?: string) =>
      client.send(
        new PutObjectCommand({
          Bucket: TEST_BUCKET,
          Key: `${conn.prefix}/${key}`,
          Body: Buffer.from(body),
          ContentType,
        }),
      );
    return { storage, client, put };
  }

  it('a folder costs one LIST and no HEAD, with or without its marker; its marker dates it', async () => {
    const { storage, client, put } = await setup();
    await storage.mkdir('marked');
    await storage.write('marked/f.txt', 'f');
    await put('bare/sub/g.txt');
    const ops = countOps(client);
    const marked = await storage.stat('marked');
    expect(marked).toMatchObject({ type: 'dir', size: 0 });
    expect(marked.mtime.getTime()).toBeGreaterThan(Date.now() - 10 * 60_000);
    expect(ops).toEqual(['ListObjectsV2Command']);
    ops.length = 0;
    expect(await storage.stat('bare')).toMatchObject({ type: 'dir', mtime: new Date(0) });
    expect(await storage.stat('bare/sub')).toMatchObject({ type: 'dir' });
    expect(ops).toEqual(['ListObjectsV2Command', 'ListObjectsV2Command']);
  });

  it('a file costs a LIST and a HEAD and keeps what only the HEAD knows; a missing path a LIST and a HEAD (a listing may lag a write)', async () => {
    const { storage, client } = await setup();
    const mtime = new Date('2001-02-03T04:05:06Z');
    await storage.write('doc', 'hello', { mtime, contentType: 'text/x-doc' });
    const ops = countOps(client);
    expect(await storage.stat('doc')).toMatchObject({
      type: 'file',
      size: 5,
      mtime,
      contentType: 'text/x-doc',
    });
    expect(ops).toEqual(['ListObjectsV2Command', 'HeadObjectCommand']);
    ops.length = 0;
    await expect(storage.stat('nothing-here')).rejects.toMatchObject({ code: 'NotFound' });
    await expect(storage.stat('doc/below')).rejects.toMatchObject({ code: 'NotFound' });
    expect(ops).toEqual([
      'ListObjectsV2Command',
      'HeadObjectCommand',
      'ListObjectsV2Command',
      'HeadObjectCommand',
    ]);
  });

  it('a name with an extension is asked by HEAD first: a file one HEAD (an sftp `get` of many small files), a folder so named HEAD + LIST', async () => {
    const { storage, client, put } = await setup();
    const mtime = new Date('2001-02-03T04:05:06Z');
    await storage.write('doc.txt', 'hello', { mtime, contentType: 'text/x-doc' });
    await put('v1.2/inner');
    const ops = countOps(client);
    expect(await storage.stat('doc.txt')).toMatchObject({
      type: 'file',
      size: 5,
      mtime,
      contentType: 'text/x-doc',
    });
    expect(ops).toEqual(['HeadObjectCommand']);
    ops.length = 0;
    expect(await storage.stat('v1.2')).toMatchObject({ type: 'dir' });
    expect(ops).toEqual(['HeadObjectCommand', 'ListObjectsV2Command']);
    ops.length = 0;
    await expect(storage.stat('none.txt')).rejects.toMatchObject({ code: 'NotFound' });
    expect(ops).toEqual(['HeadObjectCommand', 'ListObjectsV2Command']);
    ops.length = 0;
    // A dot-folder is not a name with an extension: one LIST, as any folder.
    await put('.config/x');
    ops.length = 0;
    expect(await storage.stat('.config')).toMatchObject({ type: 'dir' });
    expect(ops).toEqual(['ListObjectsV2Command']);
  });

  it('a name with keys beside it (`x.txt`, `x-1/…` sort before `x/`) is still found as a folder', async () => {
    const { storage, client, put } = await setup();
    await put('x.txt');
    await put('x-1/y');
    await put('x/inside');
    const ops = countOps(client);
    expect(await storage.stat('x')).toMatchObject({ type: 'dir' });
    expect(ops).toEqual(['ListObjectsV2Command', 'ListObjectsV2Command']);
    expect(await storage.stat('x.txt')).toMatchObject({ type: 'file', size: 1 });
    await expect(storage.stat('x-')).rejects.toMatchObject({ code: 'NotFound' });
  });

  it('a key `x` and keys under `x/` at once (another tool made both): stat says file, as a HEAD first did', async () => {
    const { storage, put } = await setup();
    await put('both', 'the file');
    await put('both/inner.txt', 'inner');
    expect(await storage.stat('both')).toMatchObject({ type: 'file', size: 8 });
    expect(await storage.stat('both/inner.txt')).toMatchObject({ type: 'file', size: 5 });
  });

  it('a slash-less folder marker of old s3fs is a folder (its HEAD says so)', async () => {
    const { storage, put } = await setup();
    await put('old-s3fs', '', 'httpd/unix-directory');
    expect(await storage.stat('old-s3fs')).toMatchObject({ type: 'dir' });
  });
});
