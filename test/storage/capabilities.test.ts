import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkedStorage } from '../../src/storage/checked.js';
import { StorageError } from '../../src/storage/errors.js';
import { MemoryStorage } from '../../src/storage/memory/memory-storage.js';
import { copyFile } from '../../src/storage/operations.js';
import { type Storage, WRAPPED } from '../../src/storage/types.js';
import { readAll } from '../support/collect.js';
import { countOps } from '../support/count-ops.js';
import { ensureBucket, testS3Storage } from '../support/s3.js';

/**
 * A wrapper the session layer could add (permissions): it forwards everything but refuses reads.
 * It keeps what it wraps under WRAPPED, as wrappers are told to, and it knows nothing about
 * server-side copies, so it forwards no `serverSideSource`.
 */
function noReads(inner: Storage, forwardServerSide = false): Storage {
  const refuse = async (): Promise<never> => {
    throw new StorageError('PermissionDenied', 'reads are not allowed here');
  };
  const outer: Storage = {
    description: inner.description,
    features: inner.features,
    stat: (p) => inner.stat(p),
    list: (p, o) => inner.list(p, o),
    read: refuse,
    write: (p, b, o) => inner.write(p, b, o),
    remove: (p) => inner.remove(p),
    mkdir: (p) => inner.mkdir(p),
    rmdir: (p) => inner.rmdir(p),
    openRead: refuse,
    hash: refuse,
    about: (o) => inner.about(o),
  };
  // A wrapper that does know the protocol checks read permission first, then refuses too.
  if (forwardServerSide) outer.serverSideSource = refuse;
  Object.defineProperty(outer, WRAPPED, { value: inner });
  return outer;
}

describe('server-side copies go through the wrappers around the source', () => {
  it('a wrapper refusing reads refuses a server-side copy from it too', async () => {
    const a = await testS3Storage();
    const b = await testS3Storage({ bucket: 'ferry-test-other' });
    await ensureBucket(b.client, 'ferry-test-other');
    await a.storage.write('secret.txt', 'not for you');
    for (const forwards of [false, true]) {
      const guarded = noReads(a.storage, forwards);
      await expect(copyFile(guarded, 'secret.txt', b.storage, 'stolen.txt')).rejects.toMatchObject({
        code: 'PermissionDenied',
      });
      // Not forwarded: no server-side copy (the caller streams, through the refusing read).
      // Forwarded: the wrapper's own refusal.
      const direct = b.storage.copyFrom!(guarded, 'secret.txt', 'stolen.txt');
      if (forwards) await expect(direct).rejects.toMatchObject({ code: 'PermissionDenied' });
      else expect(await direct).toBeUndefined();
      await expect(b.storage.stat('stolen.txt')).rejects.toMatchObject({ code: 'NotFound' });
    }
    // Within one bucket too: the same storage behind the wrapper is not "the same storage".
    await expect(copyFile(noReads(a.storage), 'secret.txt', a.storage, 'copy.txt')).rejects.toMatchObject({
      code: 'PermissionDenied',
    });
    await expect(a.storage.stat('copy.txt')).rejects.toMatchObject({ code: 'NotFound' });
  });

  it('through checkedStorage alone the copy is still server-side (HEAD + LIST + CopyObject)', async () => {
    const a = await testS3Storage();
    const b = await testS3Storage({ bucket: 'ferry-test-other' });
    await ensureBucket(b.client, 'ferry-test-other');
    await a.storage.write('d/doc.txt', 'across buckets');
    const ops = countOps(a.client, b.client);
    await copyFile(a.storage, 'd/doc.txt', b.storage, 'copied.txt');
    // The source's HEAD, the destination's "no folder of this name" LIST (folders.ts), the copy.
    expect(ops).toEqual(['HeadObjectCommand', 'ListObjectsV2Command', 'CopyObjectCommand']);
    expect((await readAll(await b.storage.read('copied.txt'))).toString()).toBe('across buckets');
    // The source path is validated by the source's own wrapper.
    await expect(b.storage.copyFrom!(a.storage, 'd/../../x', 'y.txt')).rejects.toMatchObject({
      code: 'InvalidArgument',
    });
  });
});

describe('downloadTo: a capability asked through the wrappers, not a cast to S3Storage', () => {
  it('checkedStorage forwards it; it downloads in parts, keeps the mtime, wants an absolute path', async () => {
    const { storage, raw } = await testS3Storage();
    raw.download = { ...raw.download, partSize: 5 * 1024 * 1024 };
    const data = randomBytes(12 * 1024 * 1024 + 5);
    const mtime = new Date('2003-04-05T06:07:08Z');
    await storage.write('big.bin', data, { mtime });
    const dir = await fs.mkdtemp(join(tmpdir(), 'ferry-downloadto-'));
    try {
      const seen: number[] = [];
      const res = await storage.downloadTo!('big.bin', join(dir, 'big.bin'), {
        onBytes: (n) => seen.push(n),
      });
      expect(res.resumedBytes).toBe(0);
      expect((await fs.readFile(join(dir, 'big.bin'))).equals(data)).toBe(true);
      expect((await fs.stat(join(dir, 'big.bin'))).mtime.toISOString()).toBe(mtime.toISOString());
      expect(seen.reduce((a, b) => a + b, 0)).toBe(data.length);
      expect(seen.length).toBe(3);
      expect(await fs.readdir(dir)).toEqual(['big.bin']);
      await expect(storage.downloadTo!('big.bin', 'relative.bin')).rejects.toMatchObject({
        code: 'InvalidArgument',
      });
      await expect(storage.downloadTo!('', join(dir, 'root'))).rejects.toMatchObject({
        code: 'InvalidArgument',
      });
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
    // A backend without the fast path doesn't advertise it (callers then stream through read).
    expect(checkedStorage(new MemoryStorage()).downloadTo).toBeUndefined();
  });
});
