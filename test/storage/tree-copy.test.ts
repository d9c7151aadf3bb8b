import { randomBytes } from 'node:crypto';
import { DeleteBucketCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { SHA256_META } from '../../src/s3/checksum.js';
import { copyTree } from '../../src/storage/operations.js';
import { countOps } from '../support/count-ops.js';
import { ensureBucket, testS3, testS3Storage } from '../support/s3.js';

/**
 * Issue 7, defect 3: a streamed S3→S3 tree copy (two accounts, so no server-side copy) keeps
 * content type, user metadata, mtime and ferry-sha256 of every file.
 */
describe('S3 → S3 tree copy between two accounts (streamed)', () => {
  it('keeps content type, metadata, mtime and ferry-sha256', async () => {
    const a = await testS3Storage();
    const s3 = testS3();
    const bucket = `ferry-t2-${randomBytes(4).toString('hex')}`;
    const b = await testS3Storage({
      bucket,
      prefix: '',
      accessKeyId: `${s3.accessKeyId}2`,
      secretAccessKey: `${s3.secretAccessKey}2`,
    });
    await ensureBucket(b.client, bucket);
    try {
      const mtime = new Date('2003-04-05T06:07:08.5Z');
      await a.storage.write('src/doc.txt', 'a document', {
        contentType: 'text/x-doc',
        metadata: { owner: 'alice' },
        mtime,
      });
      await a.storage.write('src/sub/img.raw', randomBytes(1000), { contentType: 'image/x-raw', mtime });
      const before = await a.storage.stat('src/doc.txt');
      expect(before.metadata?.[SHA256_META]).toMatch(/^[0-9a-f]{64}$/);
      const ops = countOps(a.client, b.client);
      expect(await copyTree(a.storage, 'src', b.storage, 'dst')).toBe(2);
      const copyOps = [...ops];
      console.log('S3→S3 streamed tree copy of 2 files, requests:', copyOps.join(' '));
      const doc = await b.storage.stat('dst/doc.txt');
      expect(doc).toMatchObject({ contentType: 'text/x-doc', size: 10 });
      expect(doc.metadata).toMatchObject({ owner: 'alice', [SHA256_META]: before.metadata![SHA256_META] });
      expect(doc.mtime.toISOString()).toBe(mtime.toISOString());
      const img = await b.storage.stat('dst/sub/img.raw');
      expect(img.contentType).toBe('image/x-raw');
      expect(img.mtime.toISOString()).toBe(mtime.toISOString());
      // A listing entry lacks them, so each file costs one HEAD of the source before its GET.
      expect(copyOps.filter((o) => o === 'HeadObjectCommand' || o === 'GetObjectCommand')).toEqual(
        expect.arrayContaining([
          'HeadObjectCommand',
          'HeadObjectCommand',
          'GetObjectCommand',
          'GetObjectCommand',
        ]),
      );
      const raw = await b.client.send(new HeadObjectCommand({ Bucket: bucket, Key: 'dst/doc.txt' }));
      expect(raw.Metadata?.[SHA256_META]).toBe(before.metadata![SHA256_META]);
    } finally {
      await b.raw.removeTree('').catch(() => {});
      await b.client.send(new DeleteBucketCommand({ Bucket: bucket })).catch(() => {});
    }
  });
});
