import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StorageError, type StorageErrorCode } from '../../src/storage/errors.js';
import type { OpenWriteOptions, WriteHandle } from '../../src/storage/handles.js';
import type { Storage } from '../../src/storage/types.js';
import { readAll } from '../support/collect.js';

export interface HandleBackend {
  /** A fresh, empty storage (already wrapped by checkedStorage). */
  storage: Storage;
  keepsMetadata: boolean;
  /** Bytes a "large" file has: enough to go up in parts (S3) and to pass the reorder window. */
  large: number;
  /** The backend's reorder window (S3); writes further ahead than this spill to a file. */
  window: number;
  /** Multipart uploads left unfinished under the storage (S3); 0 elsewhere. */
  leftovers?: () => Promise<number>;
  /** Whether the store implements conditional writes (default true; Swift's s3api: false). */
  conditionalWrites?: boolean;
  cleanup?: () => Promise<void>;
}

const KiB = 1024;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function codeOf(p: Promise<unknown>): Promise<StorageErrorCode | 'ok' | string> {
  return p.then(
    () => 'ok',
    (e: unknown) => (e instanceof StorageError ? e.code : String(e)),
  );
}

/** Offsets of `size` bytes cut in `chunk`-byte writes. */
function chunksOf(size: number, chunk: number): [number, number][] {
  const out: [number, number][] = [];
  for (let at = 0; at < size; at += chunk) out.push([at, Math.min(size, at + chunk)]);
  return out;
}

/** A seeded shuffle (so a failure can be replayed). */
function shuffle<T>(items: T[], seed: number): T[] {
  const a = [...items];
  let x = seed;
  for (let i = a.length - 1; i > 0; i--) {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    const j = x % (i + 1);
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

/**
 * The write-handle contract (src/storage/handles.ts), run against every backend: every mode, the
 * orders a protocol client sends (in order, shuffled inside the window, far ahead of it), abort,
 * idle timeout, exclusive racing, attributes before close, and the size check.
 */
export function writeHandleConformance(name: string, make: () => Promise<HandleBackend>): void {
  describe(`write handle contract: ${name}`, () => {
    let b: HandleBackend;
    let s: Storage;
    beforeAll(async () => {
      b = await make();
      s = b.storage;
    });
    afterAll(async () => {
      await b?.cleanup?.();
      await s?.close?.();
    });

    const open = (path: string, options?: OpenWriteOptions): Promise<WriteHandle> => {
      if (!s.openWrite) throw new Error(`${name} has no openWrite`);
      return s.openWrite(path, options);
    };
    const content = async (path: string) => readAll(await s.read(path));
    const noLeftovers = async () => expect(await (b.leftovers?.() ?? 0)).toBe(0);
    const visible = (path: string) => codeOf(s.stat(path));

    it('in-order 32 KiB writes: nothing visible before close, the whole file after', async () => {
      const data = randomBytes(b.large);
      const h = await open('inorder/a.bin', { size: data.length });
      expect(h.startOffset).toBe(0);
      for (const [from, to] of chunksOf(data.length, 32 * KiB)) await h.write(from, data.subarray(from, to));
      expect(await visible('inorder/a.bin')).toBe('NotFound');
      const entry = await h.close();
      expect(entry).toMatchObject({ path: 'inorder/a.bin', type: 'file', size: data.length });
      expect(sha(await content('inorder/a.bin'))).toBe(sha(data));
      await noLeftovers();
    });

    it('writes pipelined without waiting land in call order', async () => {
      const data = randomBytes(300 * KiB);
      const h = await open('inorder/pipelined.bin');
      await Promise.all(chunksOf(data.length, 32 * KiB).map(([f, t]) => h.write(f, data.subarray(f, t))));
      await h.close();
      expect(sha(await content('inorder/pipelined.bin'))).toBe(sha(data));
    });

    it('a small file, and an empty one', async () => {
      const h = await open('small/one.txt');
      await h.write(0, Buffer.from('hello'));
      await h.write(5, Buffer.from(' world'));
      expect((await h.close()).size).toBe(11);
      expect((await content('small/one.txt')).toString()).toBe('hello world');
      const e = await open('small/empty.txt');
      expect((await e.close()).size).toBe(0);
      expect(await content('small/empty.txt')).toHaveLength(0);
    });

    it('shuffled writes inside the window are reordered', async () => {
      const data = randomBytes(b.large);
      const chunk = 16 * KiB;
      const group = Math.max(1, Math.floor(b.window / 2 / chunk));
      const chunks = chunksOf(data.length, chunk);
      const order: [number, number][] = [];
      for (let i = 0; i < chunks.length; i += group)
        order.push(...shuffle(chunks.slice(i, i + group), i + 7));
      const h = await open('shuffled/a.bin');
      for (const [from, to] of order) await h.write(from, data.subarray(from, to));
      await h.close();
      expect(sha(await content('shuffled/a.bin'))).toBe(sha(data));
      await noLeftovers();
    });

    it('writes far past the window (spilled) still make the right file', async () => {
      const data = randomBytes(b.large);
      const half = Math.floor(data.length / 2 / KiB) * KiB;
      expect(half).toBeGreaterThan(b.window);
      const h = await open('spill/a.bin');
      // The second half first (all of it beyond the window), then the first half.
      for (const [from, to] of chunksOf(data.length - half, 64 * KiB))
        await h.write(half + from, data.subarray(half + from, half + to));
      for (const [from, to] of chunksOf(half, 64 * KiB)) await h.write(from, data.subarray(from, to));
      await h.close();
      expect(sha(await content('spill/a.bin'))).toBe(sha(data));
      await noLeftovers();
    });

    it('a gap never written reads back as zeros', async () => {
      const h = await open('sparse/a.bin');
      await h.write(10, Buffer.from('end'));
      await h.write(0, Buffer.from('ab'));
      await h.close();
      expect(await content('sparse/a.bin')).toEqual(
        Buffer.concat([Buffer.from('ab'), Buffer.alloc(8), Buffer.from('end')]),
      );
    });

    it('truncate replaces the old file only when the new one is complete', async () => {
      await s.write('trunc/a.txt', 'old contents');
      const data = randomBytes(b.large);
      const h = await open('trunc/a.txt', { mode: 'truncate' });
      for (const [from, to] of chunksOf(data.length, 256 * KiB)) await h.write(from, data.subarray(from, to));
      expect((await content('trunc/a.txt')).toString()).toBe('old contents');
      await h.close();
      expect(sha(await content('trunc/a.txt'))).toBe(sha(data));
    });

    it('append keeps the existing bytes (large and small files)', async () => {
      for (const [path, oldSize] of [
        ['append/large.bin', b.large],
        ['append/small.bin', 1000],
      ] as const) {
        const old = randomBytes(oldSize);
        await s.write(path, old);
        const more = randomBytes(b.large);
        const h = await open(path, { mode: 'append' });
        expect(h.startOffset).toBe(old.length);
        await expect(h.write(0, Buffer.from('x'))).rejects.toMatchObject({ code: 'InvalidArgument' });
        const h2 = await open(path, { mode: 'append' });
        for (const [from, to] of chunksOf(more.length, 128 * KiB))
          await h2.write(old.length + from, more.subarray(from, to));
        expect((await h2.close()).size).toBe(old.length + more.length);
        expect(sha(await content(path))).toBe(sha(Buffer.concat([old, more])));
      }
      // Append to a missing file creates it.
      const h = await open('append/new.txt', { mode: 'append' });
      expect(h.startOffset).toBe(0);
      await h.write(0, Buffer.from('new'));
      await h.close();
      expect((await content('append/new.txt')).toString()).toBe('new');
      await noLeftovers();
    });

    it('resume keeps the first bytes of the existing file and continues there', async () => {
      const data = randomBytes(b.large + 100 * KiB);
      const cut = b.large - 300 * KiB;
      await s.write('resume/a.bin', data.subarray(0, b.large)); // an interrupted earlier copy
      const h = await open('resume/a.bin', { mode: 'resume', resumeFrom: cut });
      expect(h.startOffset).toBe(cut);
      for (const [from, to] of chunksOf(data.length - cut, 64 * KiB))
        await h.write(cut + from, data.subarray(cut + from, cut + to));
      await h.close();
      expect(sha(await content('resume/a.bin'))).toBe(sha(data));
      await expect(open('resume/missing.bin', { mode: 'resume' })).rejects.toMatchObject({
        code: 'NotFound',
      });
      await expect(
        open('resume/a.bin', { mode: 'resume', resumeFrom: data.length + 1 }),
      ).rejects.toMatchObject({ code: 'InvalidArgument' });
      await noLeftovers();
    });

    it('update from the existing end (reput) continues the file (large and small files)', async () => {
      for (const [path, oldSize] of [
        ['update/reput-large.bin', b.large],
        ['update/reput-small.bin', 1000],
      ] as const) {
        const data = randomBytes(oldSize + b.large);
        await s.write(path, data.subarray(0, oldSize)); // an interrupted earlier upload
        const h = await open(path, { mode: 'update' });
        expect(h.startOffset).toBe(0);
        expect(typeof h.read).toBe('function');
        for (const [from, to] of chunksOf(data.length - oldSize, 128 * KiB))
          await h.write(oldSize + from, data.subarray(oldSize + from, oldSize + to));
        expect((await content(path)).length).toBe(oldSize); // nothing visible before close
        expect((await h.close()).size).toBe(data.length);
        expect(sha(await content(path))).toBe(sha(data));
      }
      await noLeftovers();
    });

    it('update: random writes over existing bytes and past the end; read returns the bytes as they are now', async () => {
      for (const [path, oldSize] of [
        ['update/random-large.bin', b.large],
        ['update/random-small.bin', 3000],
      ] as const) {
        const old = randomBytes(oldSize);
        await s.write(path, old);
        const want = Buffer.alloc(oldSize + 5000);
        old.copy(want);
        const h = await open(path, { mode: 'update' });
        const put = async (at: number, bytes: Buffer) => {
          await h.write(at, bytes);
          bytes.copy(want, at);
        };
        await put(10, randomBytes(100)); // over existing bytes first
        await put(oldSize - 50, randomBytes(100)); // across the old end
        // A read sees the existing bytes overlaid by the writes; fewer at the end; zero length.
        expect(sha(await h.read!(0, oldSize + 50))).toBe(sha(want.subarray(0, oldSize + 50)));
        expect((await h.read!(oldSize + 40, 1000)).length).toBe(10);
        expect((await h.read!(oldSize + 1000, 10)).length).toBe(0);
        await put(oldSize + 4000, randomBytes(1000)); // past the end: a gap of zeros
        expect(sha(await h.read!(oldSize, 5000))).toBe(sha(want.subarray(oldSize, oldSize + 5000)));
        await put(Math.floor(oldSize / 2), randomBytes(64 * KiB > oldSize / 4 ? 100 : 64 * KiB));
        expect(sha(await content(path))).toBe(sha(old)); // the old file until close
        expect((await h.close()).size).toBe(want.length);
        expect(sha(await content(path))).toBe(sha(want));
      }
      await noLeftovers();
    });

    it('update: a missing file is created; a read of it sees the writes; close without writes keeps the file', async () => {
      const h = await open('update/new.txt', { mode: 'update' });
      expect(await visible('update/new.txt')).toBe('NotFound');
      await h.write(0, Buffer.from('hello world'));
      await h.write(6, Buffer.from('WORLD'));
      expect((await h.read!(0, 100)).toString()).toBe('hello WORLD');
      await h.close();
      expect((await content('update/new.txt')).toString()).toBe('hello WORLD');
      const old = randomBytes(b.large);
      const mtime = new Date('2001-02-03T04:05:06Z');
      await s.write('update/untouched.bin', old, { mtime });
      const h2 = await open('update/untouched.bin', { mode: 'update' });
      expect((await h2.close()).size).toBe(old.length);
      expect(sha(await content('update/untouched.bin'))).toBe(sha(old));
      if (b.keepsMetadata)
        expect((await s.stat('update/untouched.bin')).mtime.getTime()).toBe(mtime.getTime());
      // Other modes have no read.
      const t = await open('update/other.txt');
      expect(t.read).toBeUndefined();
      await t.abort();
      await noLeftovers();
    });

    it('update: truncate shrinks after an overwrite, grows with zeros, and runs in order with writes and reads', async () => {
      for (const [tag, oldSize] of [
        ['large', b.large * 2],
        ['small', 3000],
      ] as const) {
        const old = randomBytes(oldSize);
        // Shrink after an overwrite from 0 (OpenSSH scp: in place, then FSETSTAT size).
        const smaller = randomBytes(Math.floor(oldSize / 2) + 7);
        await s.write(`update/shrink-${tag}.bin`, old);
        const h = await open(`update/shrink-${tag}.bin`, { mode: 'update' });
        expect(typeof h.truncate).toBe('function');
        for (const [from, to] of chunksOf(smaller.length, 32 * KiB))
          await h.write(from, smaller.subarray(from, to));
        await h.truncate!(smaller.length);
        expect(sha(await content(`update/shrink-${tag}.bin`))).toBe(sha(old)); // the old file until close
        expect((await h.close()).size).toBe(smaller.length);
        expect(sha(await content(`update/shrink-${tag}.bin`))).toBe(sha(smaller));

        // Grow: the old bytes, then zeros.
        await s.write(`update/grow-${tag}.bin`, old);
        const g = await open(`update/grow-${tag}.bin`, { mode: 'update' });
        await g.truncate!(oldSize + 5000);
        expect((await g.close()).size).toBe(oldSize + 5000);
        expect(sha(await content(`update/grow-${tag}.bin`))).toBe(
          sha(Buffer.concat([old, Buffer.alloc(5000)])),
        );

        // Truncate, then write past the cut: the bytes between are zeros, not the old ones.
        await s.write(`update/past-${tag}.bin`, old);
        const p = await open(`update/past-${tag}.bin`, { mode: 'update' });
        await p.write(0, Buffer.from('head'));
        await p.truncate!(100);
        await p.write(oldSize - 10, Buffer.from('tail'));
        const want = Buffer.alloc(oldSize - 6);
        old.copy(want, 0, 0, 100);
        want.write('head', 0);
        want.write('tail', oldSize - 10);
        expect((await p.close()).size).toBe(want.length);
        expect(sha(await content(`update/past-${tag}.bin`))).toBe(sha(want));

        // Truncate, then read: the bytes as they are now.
        await s.write(`update/read-${tag}.bin`, old);
        const r = await open(`update/read-${tag}.bin`, { mode: 'update' });
        await r.truncate!(50);
        expect(sha(await r.read!(0, 1000))).toBe(sha(old.subarray(0, 50)));
        await r.truncate!(80);
        const grown = Buffer.concat([old.subarray(0, 50), Buffer.alloc(30)]);
        expect(sha(await r.read!(0, 1000))).toBe(sha(grown));
        expect(sha(await r.read!(40, 20))).toBe(sha(grown.subarray(40, 60)));
        expect((await r.close()).size).toBe(80);
        expect(sha(await content(`update/read-${tag}.bin`))).toBe(sha(grown));
      }
      // Other modes have no truncate.
      const t = await open('update/other-trunc.txt');
      expect(t.truncate).toBeUndefined();
      await t.abort();
      await noLeftovers();
    });

    it('update: abort (after streaming or staging) keeps the old file and leaves nothing', async () => {
      const old = randomBytes(b.large);
      for (const [i, first] of [0, old.length].entries()) {
        const path = `update/abort-${i}.bin`;
        await s.write(path, old);
        const h = await open(path, { mode: 'update' });
        const more = randomBytes(b.large);
        for (const [from, to] of chunksOf(more.length, 256 * KiB))
          await h.write(first + from, more.subarray(from, to));
        await h.abort();
        await expect(h.read!(0, 10)).rejects.toMatchObject({ code: 'InvalidArgument' });
        expect(sha(await content(path))).toBe(sha(old));
      }
      await noLeftovers();
    });

    it('abort leaves nothing (no file, no unfinished upload) and ends the handle', async () => {
      await s.write('abort/kept.txt', 'old');
      for (const path of ['abort/new.bin', 'abort/kept.txt']) {
        const data = randomBytes(b.large);
        const h = await open(path);
        for (const [from, to] of chunksOf(data.length, 256 * KiB))
          await h.write(from, data.subarray(from, to));
        await h.abort();
        await h.abort(); // idempotent
        await expect(h.write(data.length, Buffer.from('x'))).rejects.toMatchObject({
          code: 'InvalidArgument',
        });
        await expect(h.close()).rejects.toMatchObject({ code: 'InvalidArgument' });
      }
      expect(await visible('abort/new.bin')).toBe('NotFound');
      expect((await content('abort/kept.txt')).toString()).toBe('old');
      await noLeftovers();
    });

    it('an idle timeout or the signal (a disconnect) aborts the handle', async () => {
      const data = randomBytes(b.large);
      const idle = await open('idle/a.bin', { idleTimeoutMs: 300 });
      for (const [from, to] of chunksOf(data.length, 1024 * KiB))
        await idle.write(from, data.subarray(from, to));
      await new Promise((r) => setTimeout(r, 1500));
      await expect(idle.write(data.length, Buffer.from('x'))).rejects.toMatchObject({
        code: 'InvalidArgument',
      });
      const ac = new AbortController();
      const gone = await open('idle/b.bin', { signal: ac.signal });
      for (const [from, to] of chunksOf(data.length, 1024 * KiB))
        await gone.write(from, data.subarray(from, to));
      ac.abort();
      await expect(gone.close()).rejects.toMatchObject({ code: 'InvalidArgument' });
      expect(await visible('idle/a.bin')).toBe('NotFound');
      expect(await visible('idle/b.bin')).toBe('NotFound');
      await new Promise((r) => setTimeout(r, 300)); // the aborts went out
      await noLeftovers();
    });

    it('after the signal fired, abort() resolves only once nothing is left', async () => {
      const data = randomBytes(b.large);
      const ac = new AbortController();
      const h = await open('idle/c.bin', { signal: ac.signal });
      for (const [from, to] of chunksOf(data.length, 1024 * KiB))
        await h.write(from, data.subarray(from, to));
      ac.abort();
      await h.abort(); // no sleep: the cleanup the signal started is over when this resolves
      await noLeftovers();
      expect(await visible('idle/c.bin')).toBe('NotFound');
    });

    it('a file that ends before (or runs past) its declared size is not stored', async () => {
      const data = randomBytes(b.large);
      const h = await open('short/a.bin', { size: data.length + 1 });
      for (const [from, to] of chunksOf(data.length, 512 * KiB)) await h.write(from, data.subarray(from, to));
      await expect(h.close()).rejects.toMatchObject({ code: 'InvalidArgument' });
      expect(await visible('short/a.bin')).toBe('NotFound');
      // Past the declared size: refused at once, and the handle is aborted.
      const long = await open('short/b.bin', { size: 10 });
      await long.write(0, Buffer.from('0123456789'));
      await expect(long.write(10, Buffer.from('x'))).rejects.toMatchObject({ code: 'InvalidArgument' });
      await expect(long.close()).rejects.toMatchObject({ code: 'InvalidArgument' });
      expect(await visible('short/b.bin')).toBe('NotFound');
      await noLeftovers();
    });

    it('exclusive: refused when a file exists; of two racing creators exactly one wins', async () => {
      if (b.conditionalWrites === false) {
        // A store without conditional PUTs says so (Swift's s3api), and writes nothing.
        await expect(
          (async () => {
            const h = await open('excl/none.bin', { mode: 'exclusive' });
            await h.write(0, Buffer.from('x'));
            return h.close();
          })(),
        ).rejects.toMatchObject({ code: 'NotSupported' });
        expect(await visible('excl/none.bin')).toBe('NotFound');
        await noLeftovers();
        return;
      }
      await s.write('excl/there.txt', 'x');
      await expect(open('excl/there.txt', { mode: 'exclusive' })).rejects.toMatchObject({
        code: 'AlreadyExists',
      });
      for (const size of [1000, b.large]) {
        const path = `excl/race-${size}.bin`;
        const bodies = [randomBytes(size), randomBytes(size)];
        const handles = await Promise.all(bodies.map(() => open(path, { mode: 'exclusive' })));
        const results = await Promise.allSettled(
          handles.map(async (h, i) => {
            const body = bodies[i]!;
            for (const [from, to] of chunksOf(size, 256 * KiB)) await h.write(from, body.subarray(from, to));
            return h.close();
          }),
        );
        const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
        expect(won, `winners for ${size} bytes`).toHaveLength(1);
        const lost = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
        expect(lost.reason).toMatchObject({ code: 'AlreadyExists' });
        expect(sha(await content(path))).toBe(sha(bodies[won[0]!]!));
      }
      await noLeftovers();
    });

    it('attributes given before close are stored with the file', async () => {
      const mtime = new Date('2021-03-04T05:06:07Z');
      for (const [path, size] of [
        ['attrs/small.txt', 100],
        ['attrs/large.bin', b.large],
      ] as const) {
        const data = randomBytes(size);
        const h = await open(path);
        for (const [from, to] of chunksOf(size, 512 * KiB)) await h.write(from, data.subarray(from, to));
        await h.setAttributes({ mtime, contentType: 'application/x-test', metadata: { origin: 'sftp' } });
        await h.close();
        const st = await s.stat(path);
        expect(Math.abs(st.mtime.getTime() - mtime.getTime())).toBeLessThan(1000);
        expect(st.size).toBe(size);
        if (b.keepsMetadata) {
          expect(st.contentType).toBe('application/x-test');
          expect(st.metadata).toMatchObject({ origin: 'sftp' });
        }
        expect(sha(await content(path))).toBe(sha(data));
      }
    });

    it('refuses a folder and the root', async () => {
      await s.mkdir('afolder');
      await expect(open('afolder')).rejects.toMatchObject({ code: 'IsADirectory' });
      await expect(open('')).rejects.toMatchObject({ code: 'InvalidArgument' });
    });

    it('refuses a path below a file (a file and a folder never share a name)', async () => {
      await s.write('plainfile', Buffer.from('x'));
      const h = await open('plainfile/child').catch((err: unknown) => err);
      if (!(h instanceof Error)) {
        // Refused at the latest at close; either way nothing appears below the file.
        await (h as WriteHandle).write(0, Buffer.from('y'));
        await expect((h as WriteHandle).close()).rejects.toMatchObject({ code: 'NotADirectory' });
      } else expect(h).toMatchObject({ code: 'NotADirectory' });
      expect(await visible('plainfile/child')).not.toBe('ok');
      expect((await s.stat('plainfile')).type).toBe('file');
      await noLeftovers();
    });
  });
}
