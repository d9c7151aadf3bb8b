import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { ListMultipartUploadsCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { createS3Client } from '../../src/s3/client.js';
import { checkedStorage } from '../../src/storage/checked.js';
import { StorageError } from '../../src/storage/errors.js';
import { copyFile } from '../../src/storage/operations.js';
import { RENAME_JOURNAL } from '../../src/storage/s3/rename-folder.js';
import { S3Storage } from '../../src/storage/s3/s3-storage.js';
import { aws } from '../support/aws-cli.js';
import { collect, readAll, readText, shape } from '../support/collect.js';
import { countOps } from '../support/count-ops.js';
import { ensureBucket, secondUser, TEST_BUCKET, testConnection, testS3Storage } from '../support/s3.js';

/** What Ferry writes to S3 is what other tools expect, and what they write Ferry understands. */
describe('S3 backend: interoperability with other tools', () => {
  it('writes folder markers as application/x-directory, as seen by aws s3api', async () => {
    const { storage, conn } = await testS3Storage();
    await storage.mkdir('made-by-ferry');
    const head = await aws(
      's3api',
      'head-object',
      '--bucket',
      TEST_BUCKET,
      '--key',
      `${conn.prefix}/made-by-ferry/`,
    );
    expect(head.ContentType).toBe('application/x-directory');
    expect(head.ContentLength).toBe(0);
  });

  it('stores mtime as X-Amz-Meta-Mtime (rclone format), as seen by aws s3api', async () => {
    const { storage, conn } = await testS3Storage();
    await storage.write('f.txt', 'x', { mtime: new Date('2022-05-06T07:08:09.25Z') });
    let head = await aws('s3api', 'head-object', '--bucket', TEST_BUCKET, '--key', `${conn.prefix}/f.txt`);
    expect(head.Metadata.mtime).toBe('1651820889.25');
    await storage.setModTime!('f.txt', new Date('2000-01-01T00:00:00Z'));
    head = await aws('s3api', 'head-object', '--bucket', TEST_BUCKET, '--key', `${conn.prefix}/f.txt`);
    expect(head.Metadata.mtime).toBe('946684800');
  });

  it('sees a folder created by `aws s3api put-object --key d/` and files written by `aws s3 cp`', async () => {
    const { storage, conn } = await testS3Storage();
    await aws('s3api', 'put-object', '--bucket', TEST_BUCKET, '--key', `${conn.prefix}/console-folder/`);
    const before = Date.now();
    await aws('s3', 'cp', '/etc/hostname', `s3://${TEST_BUCKET}/${conn.prefix}/by aws s3 cp.txt`);
    await aws(
      's3api',
      'put-object',
      '--bucket',
      TEST_BUCKET,
      '--key',
      `${conn.prefix}/by aws.txt`,
      '--body',
      '/etc/hostname',
    );
    const size = (
      await aws('s3api', 'head-object', '--bucket', TEST_BUCKET, '--key', `${conn.prefix}/by aws.txt`)
    ).ContentLength;
    expect((await storage.stat('console-folder')).type).toBe('dir');
    const entries = await collect(storage.list(''));
    const folder = entries.find((e) => e.name === 'console-folder');
    expect(folder?.type).toBe('dir');
    const file = entries.find((e) => e.name === 'by aws.txt');
    expect(file).toMatchObject({ type: 'file', size });
    expect(Math.abs(file!.mtime.getTime() - before)).toBeLessThan(5 * 60_000);
    expect(entries.find((e) => e.name === 'by aws s3 cp.txt')).toMatchObject({ type: 'file', size });
    expect(await shape(storage.list('console-folder'))).toEqual([]);
  });

  it('recognises folder markers other tools write: `_$folder$` and slash-less httpd/unix-directory', async () => {
    const { storage, conn, client } = await testS3Storage();
    const put = (Key: string, ContentType?: string) =>
      client.send(
        new PutObjectCommand({
          Bucket: TEST_BUCKET,
          Key: `${conn.prefix}/${Key}`,
          Body: Buffer.alloc(0),
          ContentType,
        }),
      );
    await put('hadoop_$folder$');
    await put('s3fs-old', 'httpd/unix-directory');
    // A listing can't tell a slash-less marker from an empty file without a HEAD per entry, so it
    // shows a zero-byte file; stat and read (which have the headers) know it is a folder.
    expect(await shape(storage.list(''))).toEqual(['hadoop/', 's3fs-old:0']);
    // An empty Hadoop folder is seen in listings only: stat would need a third request for it.
    await put('hadoop/part-0000', 'text/plain');
    expect((await storage.stat('hadoop')).type).toBe('dir');
    expect((await storage.stat('s3fs-old')).type).toBe('dir');
    await expect(storage.read('s3fs-old')).rejects.toMatchObject({ code: 'IsADirectory' });
  });

  it('lists a folder from ListObjectsV2 pages alone (no HEAD per entry)', async () => {
    const { storage, client } = await testS3Storage();
    for (let i = 0; i < 5; i++) await storage.write(`page/f${i}`, 'x');
    const ops = countOps(client);
    expect((await collect(storage.list('page'))).length).toBe(5);
    expect(ops).toEqual(['ListObjectsV2Command']);
    ops.length = 0;
    await storage.stat('page');
    expect(ops).toEqual(['ListObjectsV2Command']); // a folder: one LIST, no HEAD (stat.ts)
  });
});

describe('S3 backend: content types', () => {
  it('guesses the content type from the name when none is given, as aws s3 cp does', async () => {
    const { storage, conn } = await testS3Storage();
    await storage.write('site/index.html', '<html></html>');
    await storage.write('site/data.bin.unknownext', 'x');
    await storage.write('site/explicit.html', 'x', { contentType: 'text/plain' });
    const type = async (k: string) =>
      (await aws('s3api', 'head-object', '--bucket', TEST_BUCKET, '--key', `${conn.prefix}/site/${k}`))
        .ContentType;
    expect(await type('index.html')).toBe('text/html');
    expect(await type('data.bin.unknownext')).toBe('application/octet-stream');
    expect(await type('explicit.html')).toBe('text/plain');
  });
});

describe('S3 backend: the key prefix is a chroot', () => {
  it('never shows or reaches keys outside the prefix', async () => {
    const outside = await testS3Storage();
    await outside.storage.write('secret.txt', 'secret');
    await outside.storage.write('jail2/neighbour.txt', 'n');
    const jailConn = testConnection({ prefix: `${outside.conn.prefix}/jail` });
    const jail = checkedStorage(new S3Storage(createS3Client(jailConn), jailConn));
    await jail.write('mine.txt', 'm');
    expect(await shape(jail.list(''))).toEqual(['mine.txt:1']);
    await expect(jail.stat('../secret.txt')).rejects.toMatchObject({ code: 'InvalidArgument' });
    await expect(jail.read('../jail2/neighbour.txt')).rejects.toMatchObject({ code: 'InvalidArgument' });
    await expect(jail.stat('/../../secret.txt')).rejects.toMatchObject({ code: 'InvalidArgument' });
    // Absolute paths are relative to the chroot.
    expect(await readText(jail, '/mine.txt')).toBe('m');
    const keys = await aws(
      's3api',
      'list-objects-v2',
      '--bucket',
      TEST_BUCKET,
      '--prefix',
      `${outside.conn.prefix}/jail/`,
    );
    expect(keys.Contents.map((o: { Key: string }) => o.Key)).toEqual([
      `${outside.conn.prefix}/jail/mine.txt`,
    ]);
  });
});

describe('S3 backend: renames', () => {
  it('copies large files in parts (UploadPartCopy) keeping metadata, content type and mtime', async () => {
    const { storage, raw, client } = await testS3Storage({
      multipartCopyThreshold: 5 * 1024 * 1024,
      multipartCopyPartSize: 5 * 1024 * 1024,
    });
    const data = randomBytes(12 * 1024 * 1024 + 7);
    const t = new Date('2015-10-21T16:29:00Z');
    await storage.write('big.bin', data, {
      contentType: 'application/x-test',
      metadata: { owner: 'marty' },
      mtime: t,
    });
    const ops = countOps(client);
    await storage.rename!('big.bin', 'moved/big.bin');
    expect(ops.filter((o) => o === 'UploadPartCopyCommand').length).toBe(3);
    expect(ops).not.toContain('CopyObjectCommand');
    // Three HEADs: the source once (the copy reuses the rename's HEAD), once more before the
    // multipart copy completes (RGW ignores If-Match on UploadPartCopy: src/s3/part-copy.ts), and
    // one checking that the destination's parent `moved` is not a file.
    expect(ops.filter((o) => o === 'HeadObjectCommand').length).toBe(3);
    const st = await storage.stat('moved/big.bin');
    expect(st).toMatchObject({ size: data.length, contentType: 'application/x-test' });
    expect(st.metadata?.owner).toBe('marty');
    expect(st.mtime.getTime()).toBe(t.getTime());
    await expect(storage.stat('big.bin')).rejects.toMatchObject({ code: 'NotFound' });
    const uploads = await client.send(
      new ListMultipartUploadsCommand({ Bucket: TEST_BUCKET, Prefix: raw.keys.base }),
    );
    expect(uploads.Uploads ?? []).toEqual([]);
  });

  it('renames a folder holding a large object with UploadPartCopy, keeping its metadata', async () => {
    const { storage, client } = await testS3Storage({
      multipartCopyThreshold: 5 * 1024 * 1024,
      multipartCopyPartSize: 5 * 1024 * 1024,
    });
    await storage.write('fold/big.bin', randomBytes(11 * 1024 * 1024), {
      metadata: { tag: 'kept' },
      mtime: new Date(0),
    });
    await storage.write('fold/small.txt', 'small', { contentType: 'text/x-small' });
    const ops = countOps(client);
    await storage.rename!('fold', 'renamed');
    expect(ops.filter((o) => o === 'UploadPartCopyCommand').length).toBe(3);
    expect((await storage.stat('renamed/big.bin')).metadata?.tag).toBe('kept');
    expect((await storage.stat('renamed/big.bin')).mtime.getTime()).toBe(0);
    expect((await storage.stat('renamed/small.txt')).contentType).toBe('text/x-small');
    await expect(storage.stat('fold')).rejects.toMatchObject({ code: 'NotFound' });
  });

  it.each([
    ['CopyObjectCommand', 15],
    ['DeleteObjectsCommand', 1],
  ])(
    'an interrupted folder rename (failing %s #%d) loses no key; running it again finishes it',
    async (failOp, failAt) => {
      const { storage, client, raw } = await testS3Storage({ concurrency: 4 });
      const names = Array.from({ length: 40 }, (_, i) => `src/${i % 3 === 0 ? 'sub/' : ''}file-${i}.txt`);
      for (const n of names) await storage.write(n, n);
      await storage.mkdir('src/empty');
      // Fail one call: the rename stops half-way with keys moved, or copied but not yet deleted.
      let calls = 0;
      client.middlewareStack.add(
        (next, context) => async (args) => {
          if (context.commandName === failOp && ++calls === failAt) {
            throw Object.assign(new Error('injected network failure'), { name: 'InjectedFault' });
          }
          return next(args);
        },
        { step: 'initialize', name: 'injectFault' },
      );
      await expect(storage.rename!('src', 'dst')).rejects.toBeInstanceOf(StorageError);
      const filesUnder = async (root: string) =>
        (await collect(storage.list(root, { recursive: true })).catch(() => []))
          .filter((e) => e.type === 'file')
          .map((e) => e.path.slice(root.length + 1));
      const inSrc = await filesUnder('src');
      const inDst = (await filesUnder('dst')).filter((n) => n !== RENAME_JOURNAL);
      expect(inSrc.length).toBeGreaterThan(0);
      expect(inDst.length).toBeGreaterThan(0);
      expect(new Set([...inSrc, ...inDst])).toEqual(new Set(names.map((n) => n.slice(4))));
      // A different rename into the half-filled destination is refused …
      await storage.mkdir('other');
      await expect(storage.rename!('other', 'dst')).rejects.toMatchObject({ code: 'AlreadyExists' });
      // … the same one finishes.
      await storage.rename!('src', 'dst');
      await expect(storage.stat('src')).rejects.toMatchObject({ code: 'NotFound' });
      const final = await shape(storage.list('dst', { recursive: true }));
      expect(final.filter((p) => !p.endsWith('/')).length).toBe(names.length);
      expect(final).toContain('dst/empty/');
      expect(final.some((p) => p.includes(RENAME_JOURNAL))).toBe(false);
      for (const n of names) expect(await readText(storage, `dst/${n.slice(4)}`)).toBe(n);
      const keys = await aws(
        's3api',
        'list-objects-v2',
        '--bucket',
        TEST_BUCKET,
        '--prefix',
        `${raw.keys.base}src`,
      );
      expect(keys.Contents ?? []).toEqual([]);
    },
  );
});

describe('S3 backend: copies between buckets', () => {
  it('copies server-side between buckets of the same account, streams otherwise', async () => {
    const a = await testS3Storage();
    const b = await testS3Storage({ bucket: 'ferry-test-other' });
    await ensureBucket(b.client, 'ferry-test-other');
    await a.storage.write('doc.txt', 'across buckets', {
      contentType: 'text/x-doc',
      mtime: new Date('2001-02-03T04:05:06Z'),
    });
    const ops = countOps(a.client, b.client);
    await copyFile(a.storage, 'doc.txt', b.storage, 'copied/doc.txt');
    // The source's HEAD, the destination checks (nothing below `copied/doc.txt/`, `copied` is no
    // file) in parallel with it, then the copy.
    expect([...ops].sort()).toEqual([
      'CopyObjectCommand',
      'HeadObjectCommand',
      'HeadObjectCommand',
      'ListObjectsV2Command',
    ]);
    const st = await b.storage.stat('copied/doc.txt');
    expect(st).toMatchObject({ size: 14, contentType: 'text/x-doc' });
    expect(st.mtime.toISOString()).toBe('2001-02-03T04:05:06.000Z');
    // Another account (user test2) can't copy from it server-side: the caller streams instead.
    const c = await testS3Storage({ bucket: 'ferry-test-other', ...secondUser() });
    expect(await c.storage.copyFrom!(a.storage, 'doc.txt', 'x.txt')).toBeUndefined();
  });
});

describe('S3 backend: failures leave nothing behind', () => {
  it('a body failing after several parts aborts the multipart upload', async () => {
    const { storage, raw, client } = await testS3Storage();
    raw.upload = { threshold: 5 * 1024 * 1024, partSize: 5 * 1024 * 1024, concurrency: 2, partAttempts: 1 };
    const body = Readable.from(
      (async function* () {
        for (let i = 0; i < 4; i++) yield randomBytes(4 * 1024 * 1024);
        throw new Error('client disconnected');
      })(),
    );
    await expect(storage.write('broken.bin', body)).rejects.toThrow('client disconnected');
    await expect(storage.stat('broken.bin')).rejects.toMatchObject({ code: 'NotFound' });
    const uploads = await client.send(
      new ListMultipartUploadsCommand({ Bucket: TEST_BUCKET, Prefix: raw.keys.base }),
    );
    expect(uploads.Uploads ?? []).toEqual([]);
  });
});

describe('S3 errors a user can act on', () => {
  it('names a missing bucket', async () => {
    const conn = testConnection({ bucket: 'no-such-bucket-here', prefix: '' });
    const s = checkedStorage(new S3Storage(createS3Client(conn), conn));
    await expect(collect(s.list(''))).rejects.toMatchObject({
      code: 'NotFound',
      message: 'no such bucket: no-such-bucket-here',
    });
  });

  it('names the refused action and the IAM permission it needs', async () => {
    const conn = testConnection(secondUser());
    const s = checkedStorage(new S3Storage(createS3Client(conn), conn));
    const err = await collect(s.list('')).catch((e: StorageError) => e);
    expect(err).toMatchObject({ code: 'PermissionDenied' });
    expect((err as StorageError).message).toContain('ListObjectsV2');
    expect((err as StorageError).message).toContain('s3:ListBucket');
    const put = await s.write('x.txt', 'x').catch((e: StorageError) => e);
    expect((put as StorageError).message).toContain('s3:PutObject');
  });

  it('says when the endpoint cannot be reached', async () => {
    const conn = testConnection({ endpoint: 'http://127.0.0.1:9' });
    const s = checkedStorage(new S3Storage(createS3Client(conn), conn));
    const err = (await s.stat('x').catch((e: unknown) => e)) as StorageError;
    expect(err.code).toBe('Transient');
    expect(err.message).toMatch(/unreachable \(ECONNREFUSED\)/);
  });

  it('says when the secret is wrong', async () => {
    const conn = testConnection({ secretAccessKey: 'wrong-secret' });
    const s = checkedStorage(new S3Storage(createS3Client(conn), conn));
    const err = (await s.stat('x').catch((e: unknown) => e)) as StorageError;
    expect(err.code).toBe('PermissionDenied');
  });
});

describe('S3 backend: server-side copies of multipart-uploaded objects', () => {
  it('copy in parts pinned to the source ETag ("…-N"); a source changed meanwhile is a Conflict leaving nothing', async () => {
    const MiB = 1024 * 1024;
    const { storage, raw, client } = await testS3Storage({
      multipartCopyThreshold: 5 * MiB,
      multipartCopyPartSize: 5 * MiB,
      concurrency: 1,
    });
    raw.upload = { threshold: 5 * MiB, partSize: 5 * MiB, concurrency: 2, partAttempts: 1 };
    const data = randomBytes(11 * MiB);
    await storage.write('mp.bin', data);
    expect((await raw.head('mp.bin'))?.ETag).toMatch(/-3"$/);
    // Swift's s3api refuses a correct If-Match on a multipart source (412): the copy must work
    // all the same (Ferry then checks the ETag itself, before and after the parts).
    await storage.copy!('mp.bin', 'copy.bin');
    expect((await readAll(await storage.read('copy.bin'))).equals(data)).toBe(true);

    // The source is replaced (same size) after the first part was copied: the copy must not
    // complete, whether the store checks If-Match on every part (RGW) or Ferry checks (Swift).
    let copied = 0;
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const out = await next(args);
        if (context.commandName === 'UploadPartCopyCommand' && ++copied === 1) {
          const Key = raw.keys.file('mp.bin');
          await client.send(
            new PutObjectCommand({ Bucket: TEST_BUCKET, Key, Body: randomBytes(data.length) }),
          );
        }
        return out;
      },
      { step: 'initialize', name: 'replaceSource' },
    );
    await expect(storage.copy!('mp.bin', 'copy2.bin')).rejects.toMatchObject({ code: 'Conflict' });
    await expect(storage.stat('copy2.bin')).rejects.toMatchObject({ code: 'NotFound' });
    const uploads = await client.send(
      new ListMultipartUploadsCommand({ Bucket: TEST_BUCKET, Prefix: raw.keys.base }),
    );
    expect(uploads.Uploads ?? []).toEqual([]);
  });
});
