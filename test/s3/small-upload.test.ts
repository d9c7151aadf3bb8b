import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { GetObjectCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BufferBudget } from '../../src/s3/buffer-budget.js';
import { SHA256_META } from '../../src/s3/checksum.js';
import { createS3Client } from '../../src/s3/client.js';
import { bufferSource, positionalSourceOf } from '../../src/s3/file-source.js';
import { type UploadTuning, uploadObject } from '../../src/s3/upload.js';
import { LocalStorage } from '../../src/storage/local/local-storage.js';
import { readAll } from '../support/collect.js';
import { ensureBucket, objectExists, testConnection } from '../support/s3.js';

const MiB = 1024 * 1024;
const tuning: UploadTuning = { threshold: 5 * MiB, partSize: 5 * MiB, concurrency: 3, partAttempts: 2 };
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/**
 * A small local file of known size goes up in one PUT read straight into one buffer (the sync of
 * many small files, issue 11): the buffer has room for the read that finds the end of the file, so
 * it is never grown and copied; a file that changed size since it was listed is still refused.
 */
describe('small file uploads (one buffer, real RGW)', () => {
  let client: S3Client;
  let dir: string;
  const conn = testConnection();
  const key = (name: string) => `${conn.prefix}/${name}`;
  const exists = (k: string) => objectExists(client, conn.bucket, k);

  beforeAll(async () => {
    client = createS3Client(conn);
    await ensureBucket(client, conn.bucket);
    dir = await fs.mkdtemp(join(tmpdir(), 'ferry-small-up-'));
  });
  afterAll(async () => {
    client?.destroy();
    await fs.rm(dir, { recursive: true, force: true });
  });

  /** `name` written with `data`, opened as LocalStorage.read opens it (a positional source). */
  async function fileSource(name: string, data: Buffer) {
    await fs.writeFile(join(dir, name), data);
    const stream = await new LocalStorage(dir).read(name);
    const source = positionalSourceOf(stream);
    expect(source).toBeDefined();
    return { stream, source: source! };
  }

  it('a 16 KiB file holds no more than its size + 1 of the budget, and arrives whole', async () => {
    const data = randomBytes(16 * 1024);
    const { stream, source } = await fileSource('a.bin', data);
    const budget = new BufferBudget(64 * MiB);
    const k = key('a.bin');
    try {
      const res = await uploadObject(
        client,
        { bucket: conn.bucket, key: k, body: source, size: data.length, budget },
        tuning,
      );
      expect(res).toMatchObject({ size: data.length, parts: 0, sha256: sha(data) });
    } finally {
      stream.destroy();
    }
    // Before: the buffer of 16 KiB was full when the read that finds the end came, so it was
    // grown to 64 KiB (and the 16 KiB copied) for every small file.
    expect(budget.peak).toBeLessThanOrEqual(data.length + 1);
    expect(budget.held).toBe(0);
    const got = await client.send(new GetObjectCommand({ Bucket: conn.bucket, Key: k }));
    expect(sha(await readAll(got.Body as Readable))).toBe(sha(data));
    expect(got.Metadata?.[SHA256_META]).toBe(sha(data));
  });

  it('an empty file goes up as an empty object', async () => {
    // (LocalStorage reads an empty file as an empty stream; a whole file in memory as a buffer.)
    const k = key('empty.bin');
    const res = await uploadObject(
      client,
      { bucket: conn.bucket, key: k, body: bufferSource(Buffer.alloc(0)), size: 0 },
      tuning,
    );
    expect(res).toMatchObject({ size: 0, parts: 0, sha256: sha(Buffer.alloc(0)) });
    const head = await client.send(new HeadObjectCommand({ Bucket: conn.bucket, Key: k }));
    expect(head.ContentLength).toBe(0);
  });

  it('a file longer or shorter than the size it was listed with is refused, and nothing is stored', async () => {
    for (const [name, actual, listed] of [
      ['grew.bin', 16 * 1024 + 1, 16 * 1024],
      ['grew-more.bin', 100_000, 16 * 1024],
      ['shrank.bin', 1000, 16 * 1024],
    ] as const) {
      const { stream, source } = await fileSource(name, randomBytes(actual));
      try {
        await expect(
          uploadObject(client, { bucket: conn.bucket, key: key(name), body: source, size: listed }, tuning),
        ).rejects.toMatchObject({ code: 'InvalidArgument' });
      } finally {
        stream.destroy();
      }
      expect(await exists(key(name))).toBe(false);
    }
  });
});
