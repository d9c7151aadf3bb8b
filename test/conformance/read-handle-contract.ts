import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StorageError } from '../../src/storage/errors.js';
import type { ReadHandle } from '../../src/storage/read-handle.js';
import type { Storage } from '../../src/storage/types.js';
import { readAll } from '../support/collect.js';

export interface ReadHandleBackend {
  /** A fresh, empty storage (already wrapped by checkedStorage). */
  storage: Storage;
  /**
   * The backend's read-ahead unit when it has one (S3: the part size, set small by the test so
   * that a few MiB span several parts); files are sized from it.
   */
  partSize?: number;
  cleanup?: () => Promise<void>;
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A deterministic pseudo-random sequence, so a failing case can be replayed. */
function rng(seed: number) {
  let x = seed >>> 0 || 1;
  return (n: number) => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % n;
  };
}

/**
 * The read handle contract (src/storage/read-handle.ts), run against every backend: what SFTP
 * READ, FTP REST and HTTP Range will rely on.
 */
export function readHandleConformance(name: string, make: () => Promise<ReadHandleBackend>): void {
  describe(`Read handle contract: ${name}`, () => {
    let backend: ReadHandleBackend;
    let s: Storage;
    let data: Buffer;
    beforeAll(async () => {
      backend = await make();
      s = backend.storage;
      data = randomBytes(4 * (backend.partSize ?? 1024 * 1024) + 12345);
      await s.write('rh/data.bin', data, {
        size: data.length,
        mtime: new Date('2024-05-06T07:08:09.500Z'),
        contentType: 'application/x-test',
        metadata: { colour: 'blue' },
      });
    });
    afterAll(async () => {
      await backend?.cleanup?.();
      await s?.close?.();
    });

    async function withHandle<T>(path: string, fn: (h: ReadHandle) => Promise<T>): Promise<T> {
      const h = await s.openRead(path);
      try {
        return await fn(h);
      } finally {
        await h.close();
      }
    }

    it('describes the opened file like stat does', async () => {
      const st = await s.stat('rh/data.bin');
      await withHandle('rh/data.bin', async (h) => {
        expect(h.entry).toMatchObject({
          path: 'rh/data.bin',
          name: 'data.bin',
          type: 'file',
          size: data.length,
        });
        expect(h.entry.mtime.getTime()).toBe(st.mtime.getTime());
        expect(h.entry.mtime.getTime()).toBe(Date.parse('2024-05-06T07:08:09.500Z'));
        if (s.features.keepsMetadata) {
          expect(h.entry.contentType).toBe('application/x-test');
          expect(h.entry.metadata).toMatchObject({ colour: 'blue' });
        }
        if (st.etag) expect(h.entry.etag).toBe(st.etag);
      });
    });

    it('reads random ranges, in any order, byte for byte', async () => {
      const next = rng(7);
      await withHandle('rh/data.bin', async (h) => {
        for (let i = 0; i < 60; i++) {
          const offset = next(data.length);
          const length = i % 3 === 0 ? next(64) : next(3 * 1024 * 1024);
          const got = await h.read(offset, length);
          expect(got.equals(data.subarray(offset, offset + length)), `read(${offset}, ${length})`).toBe(true);
        }
      });
    });

    it('reads the whole file in 32 KiB pipelined reads (an SFTP client)', async () => {
      await withHandle('rh/data.bin', async (h) => {
        const step = 32 * 1024;
        const out: Buffer[] = [];
        for (let at = 0; at < data.length; at += 16 * step) {
          const batch = Array.from({ length: 16 }, (_, i) => h.read(at + i * step, step));
          out.push(...(await Promise.all(batch)));
        }
        expect(sha(Buffer.concat(out))).toBe(sha(data));
      });
    });

    it('reads concurrently at many offsets at once', async () => {
      const next = rng(11);
      await withHandle('rh/data.bin', async (h) => {
        const ranges = Array.from({ length: 40 }, () => [next(data.length), 1 + next(300_000)] as const);
        const got = await Promise.all(ranges.map(([o, l]) => h.read(o, l)));
        for (const [i, [o, l]] of ranges.entries()) {
          expect(got[i]!.equals(data.subarray(o, o + l)), `read(${o}, ${l})`).toBe(true);
        }
      });
    });

    it('reads at and past the end: fewer bytes, then none', async () => {
      await withHandle('rh/data.bin', async (h) => {
        expect((await h.read(data.length - 3, 10)).equals(data.subarray(data.length - 3))).toBe(true);
        expect((await h.read(data.length, 10)).length).toBe(0);
        expect((await h.read(data.length + 1000, 1)).length).toBe(0);
        expect((await h.read(5, 0)).length).toBe(0);
        await expect(h.read(-1, 1)).rejects.toMatchObject({ code: 'InvalidArgument' });
        await expect(h.read(0, 1.5)).rejects.toMatchObject({ code: 'InvalidArgument' });
      });
    });

    it('streams ranges (FTP REST, HTTP Range), several at once', async () => {
      await withHandle('rh/data.bin', async (h) => {
        const [a, b, c] = await Promise.all([
          readAll(h.stream(100_000)),
          readAll(h.stream(7, 2_000_000)),
          readAll(h.stream()),
        ]);
        expect(sha(a)).toBe(sha(data.subarray(100_000)));
        expect(sha(b)).toBe(sha(data.subarray(7, 2_000_007)));
        expect(sha(c)).toBe(sha(data));
        expect((await readAll(h.stream(data.length + 5))).length).toBe(0);
      });
    });

    it('opens small and empty files', async () => {
      await s.write('rh/small.txt', 'hello');
      await s.write('rh/empty.bin', Buffer.alloc(0));
      await withHandle('rh/small.txt', async (h) => {
        expect(h.entry.size).toBe(5);
        expect((await h.read(0, 100)).toString()).toBe('hello');
        expect((await h.read(1, 3)).toString()).toBe('ell');
      });
      await withHandle('rh/empty.bin', async (h) => {
        expect(h.entry.size).toBe(0);
        expect((await h.read(0, 100)).length).toBe(0);
        expect((await readAll(h.stream())).length).toBe(0);
      });
    });

    it('refuses missing files and folders', async () => {
      await expect(s.openRead('rh/missing.bin')).rejects.toMatchObject({ code: 'NotFound' });
      await expect(s.openRead('rh')).rejects.toMatchObject({ code: 'IsADirectory' });
      await expect(s.openRead('')).rejects.toMatchObject({ code: 'IsADirectory' });
    });

    it('refuses reads after close; close twice is fine', async () => {
      const h = await s.openRead('rh/data.bin');
      expect((await h.read(0, 4)).equals(data.subarray(0, 4))).toBe(true);
      await h.close();
      await h.close();
      await expect(h.read(0, 4)).rejects.toMatchObject({ code: 'InvalidArgument' });
    });

    it('a file replaced after open: the opened version or Conflict, never other bytes', async () => {
      const original = randomBytes(data.length);
      await s.write('rh/replaced.bin', original, { size: original.length });
      const h = await s.openRead('rh/replaced.bin');
      try {
        expect((await h.read(0, 1000)).equals(original.subarray(0, 1000))).toBe(true);
        const replacement = randomBytes(original.length);
        await s.write('rh/replaced.bin', replacement, { size: replacement.length });
        // Far from what was read (not read ahead), then sequentially on from the start.
        const far = original.length - 5000;
        const results = await Promise.allSettled([h.read(far, 4000), h.read(1000, 200_000)]);
        for (const [i, r] of results.entries()) {
          const [o, l] = i === 0 ? [far, 4000] : [1000, 200_000];
          if (r.status === 'fulfilled') {
            expect(
              r.value.equals(original.subarray(o, o + l)),
              `read(${o}, ${l}) is the opened version`,
            ).toBe(true);
          } else {
            expect(r.reason).toBeInstanceOf(StorageError);
            expect((r.reason as StorageError).code).toBe('Conflict');
          }
        }
        if (s.features.readHandleKeepsVersion) {
          expect(results.every((r) => r.status === 'fulfilled')).toBe(true);
        } else {
          // The far range was never fetched before the replacement: it must fail.
          expect(results[0]!.status).toBe('rejected');
        }
      } finally {
        await h.close();
      }
    });
  });
}
