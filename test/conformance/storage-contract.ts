import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkedStorage } from '../../src/storage/checked.js';
import { StorageError, type StorageErrorCode } from '../../src/storage/errors.js';
import { MemoryStorage } from '../../src/storage/memory/memory-storage.js';
import { copyFile, copyTree, move } from '../../src/storage/operations.js';
import { type Entry, listCursor, type Storage } from '../../src/storage/types.js';
import { collect, readAll, readText, shape } from '../support/collect.js';

export interface Backend {
  /** A fresh, empty storage (already wrapped by checkedStorage). */
  storage: Storage;
  /** Whether content type and user metadata survive a write/stat round trip. */
  keepsMetadata: boolean;
  /** Whether names with control characters (encoded `‛…%07…`) list (default true; Swift: no). */
  controlCharNames?: boolean;
  cleanup?: () => Promise<void>;
}

async function expectCode(
  p: Promise<unknown> | (() => Promise<unknown>),
  code: StorageErrorCode,
): Promise<StorageError> {
  const err = await (typeof p === 'function' ? p() : p).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, `expected StorageError ${code}`).toBeInstanceOf(StorageError);
  expect((err as StorageError).code).toBe(code);
  return err as StorageError;
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A listing's entries in the order the backend gave them. */
async function fromList(entries: AsyncIterable<Entry>): Promise<Entry[]> {
  const out: Entry[] = [];
  for await (const e of entries) out.push(e);
  return out;
}

/**
 * The Storage contract, run against every backend. A backend that passes this behaves the same
 * to every protocol above it. Add a case here, not in one backend's tests, when the contract
 * grows.
 */
export function storageConformance(name: string, make: () => Promise<Backend>): void {
  describe(`Storage contract: ${name}`, () => {
    let backend: Backend;
    let s: Storage;
    beforeAll(async () => {
      backend = await make();
      s = backend.storage;
    });
    afterAll(async () => {
      await backend?.cleanup?.();
      await s?.close?.();
    });

    it('stat of the root is a folder', async () => {
      const root = await s.stat('');
      expect(root.type).toBe('dir');
      expect(await s.stat('/')).toMatchObject({ type: 'dir', path: '' });
    });

    it('writes, stats and reads a file', async () => {
      const written = await s.write('hello.txt', 'hello world');
      expect(written).toMatchObject({ path: 'hello.txt', name: 'hello.txt', type: 'file', size: 11 });
      expect(await s.stat('hello.txt')).toMatchObject({ type: 'file', size: 11 });
      expect(await readText(s, 'hello.txt')).toBe('hello world');
    });

    it('replaces an existing file', async () => {
      await s.write('replace.txt', 'first version, longer');
      await s.write('replace.txt', 'second');
      expect(await readText(s, 'replace.txt')).toBe('second');
      expect((await s.stat('replace.txt')).size).toBe(6);
    });

    it('writes an empty file', async () => {
      await s.write('empty.bin', Buffer.alloc(0));
      expect(await s.stat('empty.bin')).toMatchObject({ type: 'file', size: 0 });
      expect((await readAll(await s.read('empty.bin'))).length).toBe(0);
    });

    it('writes from a stream and keeps every byte (multi-part sized)', async () => {
      const data = randomBytes(20 * 1024 * 1024 + 123);
      const chunks = Array.from({ length: Math.ceil(data.length / 65536) }, (_, i) =>
        data.subarray(i * 65536, (i + 1) * 65536),
      );
      const entry = await s.write('big/stream.bin', Readable.from(chunks));
      expect(entry.size).toBe(data.length);
      expect(sha(await readAll(await s.read('big/stream.bin')))).toBe(sha(data));
    });

    it('reads byte ranges', async () => {
      await s.write('range.txt', '0123456789');
      const r = async (offset?: number, length?: number) =>
        (await readAll(await s.read('range.txt', { offset, length }))).toString();
      expect(await r(2, 3)).toBe('234');
      expect(await r(7)).toBe('789');
      expect(await r(0, 10)).toBe('0123456789');
      expect(await r(8, 100)).toBe('89');
      expect(await r(10)).toBe('');
      expect(await r(3, 0)).toBe('');
      await expectCode(s.read('range.txt', { offset: -1 }), 'InvalidArgument');
    });

    it('creates missing parent folders on write', async () => {
      await s.write('a/b/c/deep.txt', 'deep');
      expect((await s.stat('a')).type).toBe('dir');
      expect((await s.stat('a/b/c')).type).toBe('dir');
      expect(await shape(s.list('a'))).toEqual(['a/b/']);
      expect(await shape(s.list('a/b/c'))).toEqual(['a/b/c/deep.txt:4']);
    });

    it('lists direct children with types and sizes', async () => {
      await s.mkdir('ls');
      await s.write('ls/one.txt', '1');
      await s.write('ls/two.txt', '22');
      await s.mkdir('ls/sub');
      await s.write('ls/sub/inner.txt', '333');
      await s.mkdir('ls/empty');
      expect(await shape(s.list('ls'))).toEqual(['ls/empty/', 'ls/one.txt:1', 'ls/sub/', 'ls/two.txt:2']);
      const entries = await collect(s.list('ls'));
      expect(entries.find((e) => e.name === 'two.txt')?.mtime).toBeInstanceOf(Date);
      expect(await shape(s.list('ls/empty'))).toEqual([]);
    });

    it('lists recursively', async () => {
      await s.write('rec/x/y/z.txt', 'z');
      await s.write('rec/top.txt', 't');
      await s.mkdir('rec/x/empty');
      expect(await shape(s.list('rec', { recursive: true }))).toEqual([
        'rec/top.txt:1',
        'rec/x/',
        'rec/x/empty/',
        'rec/x/y/',
        'rec/x/y/z.txt:1',
      ]);
    });

    it('lists the root', async () => {
      const names = (await collect(s.list(''))).map((e) => e.name);
      expect(names).toContain('hello.txt');
      expect(names).toContain('a');
    });

    it('paged listing: pages join with no gap and no repeat, in a stable order', async () => {
      // Names that sort differently as names and as keys (`a` < `a.txt`, but `a.txt` < `a/`).
      for (const f of ['a.txt', 'a-b', 'b', 'a/x.txt', 'a/y/z.txt', 'ab/c.txt']) await s.write(`pg/${f}`, f);
      await s.mkdir('pg/empty');
      for (const recursive of [false, true]) {
        const all = await collect(s.list('pg', { recursive }));
        for (const limit of [1, 2, 3]) {
          const seen: string[] = [];
          let startAfter: string | undefined;
          for (let page = 0; page < 20; page++) {
            const got: Entry[] = [];
            for await (const e of s.list('pg', { recursive, limit, startAfter })) got.push(e);
            expect(got.length).toBeLessThanOrEqual(limit);
            if (got.length === 0) break;
            seen.push(...got.map((e) => e.path));
            startAfter = listCursor(got[got.length - 1]!);
          }
          expect(seen.length, `recursive=${recursive} limit=${limit}: ${seen}`).toBe(new Set(seen).size);
          expect([...seen].sort()).toEqual(all.map((e) => e.path));
        }
        // The same order every time.
        const once = (await fromList(s.list('pg', { recursive, limit: 100 }))).map((e) => e.path);
        const twice = (await fromList(s.list('pg', { recursive, limit: 100 }))).map((e) => e.path);
        expect(once).toEqual(twice);
        expect(await fromList(s.list('pg', { recursive, startAfter: '~~~' }))).toEqual([]);
      }
      await expectCode(() => collect(s.list('pg', { limit: 0 })), 'InvalidArgument');
      await expectCode(() => collect(s.list('pg-missing', { limit: 2 })), 'NotFound');
    });

    it('hash: SHA-256 and MD5 of the bytes', async () => {
      const body = randomBytes(3 * 1024 * 1024 + 17);
      await s.write('hash/f.bin', body, { size: body.length });
      expect(await s.hash('hash/f.bin', 'sha256')).toBe(sha(body));
      expect(await s.hash('hash/f.bin', 'md5')).toBe(createHash('md5').update(body).digest('hex'));
      await s.write('hash/stream.bin', Readable.from([body.subarray(0, 100), body.subarray(100)]));
      expect(await s.hash('hash/stream.bin', 'sha256')).toBe(sha(body));
      await expectCode(s.hash('hash/none', 'sha256'), 'NotFound');
      await expectCode(s.hash('hash', 'md5'), 'IsADirectory');
      await expectCode(s.hash('hash/f.bin', 'crc32' as 'md5'), 'NotSupported');
    });

    it('about: the space figures the backend says it knows', async () => {
      const space = await s.about();
      for (const k of ['total', 'used', 'free'] as const) {
        if (s.features.space.includes(k)) {
          expect(Number.isSafeInteger(space[k]), k).toBe(true);
          expect(space[k]!).toBeGreaterThanOrEqual(0);
        } else expect(space[k], k).toBeUndefined();
      }
    });

    it('features: every flag is there', async () => {
      const f = s.features;
      for (const k of [
        'listingMtimeIsClientMtime',
        'keepsEmptyFolders',
        'keepsMetadata',
        'conditionalWrites',
        'readHandleKeepsVersion',
      ] as const) {
        expect(typeof f[k], k).toBe('boolean');
      }
      expect(f.keepsMetadata).toBe(backend.keepsMetadata);
      expect(Array.isArray(f.storedHashes)).toBe(true);
    });

    it('an aborted signal stops every operation and changes nothing', async () => {
      await s.write('abort/f.txt', 'x');
      const signal = AbortSignal.abort();
      const ops: [string, () => Promise<unknown>][] = [
        ['stat', () => s.stat('abort/f.txt', { signal })],
        ['list', () => collect(s.list('abort', { signal }))],
        ['read', () => s.read('abort/f.txt', { signal })],
        ['write', () => s.write('abort/new.txt', 'y', { signal })],
        ['remove', () => s.remove('abort/f.txt', { signal })],
        ['mkdir', () => s.mkdir('abort/d', { signal })],
        ['rmdir', () => s.rmdir('abort', { signal })],
        ['openRead', () => s.openRead('abort/f.txt', { signal })],
        ['hash', () => s.hash('abort/f.txt', 'sha256', { signal })],
        ['about', () => s.about({ signal })],
      ];
      if (s.copy) ops.push(['copy', () => s.copy!('abort/f.txt', 'abort/c.txt', { signal })]);
      if (s.rename) ops.push(['rename', () => s.rename!('abort/f.txt', 'abort/r.txt', { signal })]);
      if (s.setModTime) ops.push(['setModTime', () => s.setModTime!('abort/f.txt', new Date(0), { signal })]);
      if (s.removeTree) ops.push(['removeTree', () => s.removeTree!('abort', { signal })]);
      for (const [op, run] of ops) {
        const err = await run().then(
          () => undefined,
          (e: unknown) => e,
        );
        expect((err as Error | undefined)?.name, op).toBe('AbortError');
      }
      expect(await shape(s.list('abort'))).toEqual(['abort/f.txt:1']);
      expect((await s.stat('abort/f.txt')).mtime.getTime()).not.toBe(0);
    });

    it('reports missing things as NotFound', async () => {
      await expectCode(s.stat('nope'), 'NotFound');
      await expectCode(s.stat('nope/deeper'), 'NotFound');
      await expectCode(s.read('nope.txt'), 'NotFound');
      await expectCode(s.remove('nope.txt'), 'NotFound');
      await expectCode(s.rmdir('nope'), 'NotFound');
      await expectCode(() => collect(s.list('nope')), 'NotFound');
    });

    it('tells files and folders apart', async () => {
      await s.write('kind/file.txt', 'f');
      await expectCode(s.read('kind'), 'IsADirectory');
      await expectCode(s.remove('kind'), 'IsADirectory');
      await expectCode(() => collect(s.list('kind/file.txt')), 'NotADirectory');
      await expectCode(s.rmdir('kind/file.txt'), 'NotADirectory');
    });

    it('mkdir: creates parents, refuses what exists', async () => {
      await s.mkdir('mk/one/two');
      expect((await s.stat('mk/one/two')).type).toBe('dir');
      expect((await s.stat('mk/one')).type).toBe('dir');
      await expectCode(s.mkdir('mk/one/two'), 'AlreadyExists');
      await s.write('mk/file', 'x');
      await expectCode(s.mkdir('mk/file'), 'AlreadyExists');
    });

    it('a file and a folder never share a name: NotADirectory under a file, IsADirectory over a folder', async () => {
      await s.write('fd/f', 'file');
      await s.write('fd/d/in.txt', 'in');
      await s.write('fd/other.txt', 'o');
      await expectCode(s.write('fd/f/under.txt', 'x'), 'NotADirectory');
      await expectCode(s.write('fd/f/deeper/under.txt', 'x'), 'NotADirectory');
      await expectCode(s.mkdir('fd/f/sub'), 'NotADirectory');
      await expectCode(s.write('fd/d', 'x'), 'IsADirectory');
      if (s.copy) {
        await expectCode(s.copy('fd/other.txt', 'fd/f/under.txt'), 'NotADirectory');
        await expectCode(s.copy('fd/other.txt', 'fd/d'), 'IsADirectory');
      }
      if (s.rename) {
        await expectCode(s.rename('fd/other.txt', 'fd/f/under.txt'), 'NotADirectory');
        await expectCode(s.rename('fd/d', 'fd/f/d'), 'NotADirectory');
        await expectCode(s.rename('fd/other.txt', 'fd/d'), 'AlreadyExists');
        expect(await readText(s, 'fd/other.txt')).toBe('o');
      }
      // Nothing was written by the refused calls: one `f` (a file), one `d` (a folder).
      expect(await shape(s.list('fd', { recursive: true }))).toEqual([
        'fd/d/',
        'fd/d/in.txt:2',
        'fd/f:4',
        'fd/other.txt:1',
      ]);
    });

    it('folders stay when Ferry empties them: mkdir parents, rmdir, remove, rename away, removeTree', async () => {
      const before = Date.now() - 5 * 60_000;
      await s.mkdir('stay/x/y/z');
      await s.rmdir('stay/x/y/z');
      expect((await s.stat('stay/x/y')).type).toBe('dir');
      expect((await s.stat('stay/x')).type).toBe('dir');
      // Parents made by mkdir have a real time, not the epoch.
      expect((await s.stat('stay/x')).mtime.getTime()).toBeGreaterThan(before);
      expect(await shape(s.list('stay/x/y'))).toEqual([]);
      await s.rmdir('stay/x/y');
      expect(await shape(s.list('stay/x'))).toEqual([]);

      await s.write('stay/rm/only.txt', 'x');
      await s.remove('stay/rm/only.txt');
      expect(await shape(s.list('stay/rm'))).toEqual([]);

      if (s.rename) {
        await s.write('stay/mvf/only.txt', 'x');
        await s.rename('stay/mvf/only.txt', 'stay/moved.txt');
        expect(await shape(s.list('stay/mvf'))).toEqual([]);
        await s.write('stay/mvd/sub/only.txt', 'x');
        await s.rename('stay/mvd/sub', 'stay/moved');
        expect(await shape(s.list('stay/mvd'))).toEqual([]);
      }
      if (s.removeTree) {
        await s.write('stay/rt/sub/only.txt', 'x');
        await s.removeTree('stay/rt/sub');
        expect(await shape(s.list('stay/rt'))).toEqual([]);
      }
    });

    it('rmdir: removes empty folders only', async () => {
      await s.mkdir('rm/empty');
      await s.write('rm/full/f.txt', 'x');
      await expectCode(s.rmdir('rm/full'), 'NotEmpty');
      await s.rmdir('rm/empty');
      await expectCode(s.stat('rm/empty'), 'NotFound');
      await expectCode(s.rmdir(''), 'InvalidArgument');
    });

    it('remove: deletes a file', async () => {
      await s.write('del/gone.txt', 'x');
      await s.write('del/kept.txt', 'y');
      await s.remove('del/gone.txt');
      await expectCode(s.stat('del/gone.txt'), 'NotFound');
      expect(await shape(s.list('del'))).toEqual(['del/kept.txt:1']);
    });

    it('validates and normalises paths', async () => {
      await expectCode(s.stat('../etc/passwd'), 'InvalidArgument');
      await expectCode(s.stat('a/../../x'), 'InvalidArgument');
      await expectCode(s.write('bad\u0000name', 'x'), 'InvalidArgument');
      await expectCode(s.write('bad\nname', 'x'), 'InvalidArgument');
      await s.write('//norm///path/./file.txt/', 'n');
      expect(await readText(s, 'norm/path/file.txt')).toBe('n');
      // NFD input names the same file as NFC input.
      await s.write('caf\u00e9.txt', 'nfc');
      expect(await readText(s, 'cafe\u0301.txt')).toBe('nfc');
    });

    it('round-trips names with spaces, unicode and URL-special characters', async () => {
      const names = [
        'with space.txt',
        'ünïcødé 日本語.txt',
        'plus+and&eq=q?hash#pct%25%.txt',
        'quote\'dq"star*.txt',
      ];
      for (const n of names) await s.write(`odd/${n}`, n);
      expect((await collect(s.list('odd'))).map((e) => e.name).sort()).toEqual([...names].sort());
      for (const n of names) {
        expect(await readText(s, `odd/${n}`)).toBe(n);
        expect((await s.stat(`odd/${n}`)).size).toBe(Buffer.byteLength(n));
      }
    });

    it('keeps the mtime given on write and by setModTime', async () => {
      const t = new Date('2021-02-03T04:05:06.789Z');
      await s.write('times/w.txt', 'x', { mtime: t });
      expect((await s.stat('times/w.txt')).mtime.getTime()).toBe(t.getTime());
      if (!s.setModTime) return;
      const t2 = new Date('2019-12-31T23:59:59.5Z');
      await s.setModTime('times/w.txt', t2);
      expect((await s.stat('times/w.txt')).mtime.getTime()).toBe(t2.getTime());
      expect(await readText(s, 'times/w.txt')).toBe('x');
    });

    it('refuses a modification time no date can hold, storing nothing', async () => {
      // scp -t's `T999999999999999 0 …` once stored mtime NaN (review of issue 9).
      for (const bad of [new Date(Number.NaN), new Date(8.64e15), new Date(Date.UTC(10000, 0, 1))]) {
        await expect(s.write('times/bad.txt', 'x', { mtime: bad })).rejects.toMatchObject({
          code: 'InvalidArgument',
        });
        await expect(s.stat('times/bad.txt')).rejects.toMatchObject({ code: 'NotFound' });
        if (s.openWrite) {
          await expect(s.openWrite('times/bad.txt', { mtime: bad })).rejects.toMatchObject({
            code: 'InvalidArgument',
          });
          const h = await s.openWrite('times/bad.txt');
          await expect(h.setAttributes({ mtime: bad })).rejects.toMatchObject({ code: 'InvalidArgument' });
          await h.abort();
        }
        await s.write('times/ok.txt', 'x');
        if (s.setModTime) {
          await expect(s.setModTime('times/ok.txt', bad)).rejects.toMatchObject({ code: 'InvalidArgument' });
        }
        expect(Number.isFinite((await s.stat('times/ok.txt')).mtime.getTime())).toBe(true);
      }
      await expect(s.stat('times/bad.txt')).rejects.toMatchObject({ code: 'NotFound' });
    });

    it('keeps content type and metadata where the backend can', async () => {
      if (!backend.keepsMetadata) return;
      await s.write('meta.json', '{}', { contentType: 'application/json', metadata: { owner: 'alice' } });
      const st = await s.stat('meta.json');
      expect(st.contentType).toBe('application/json');
      expect(st.metadata?.owner).toBe('alice');
    });

    it('leaves nothing behind when the body fails mid-way', async () => {
      const failing = Readable.from(
        (async function* () {
          yield randomBytes(1024 * 1024);
          yield randomBytes(9 * 1024 * 1024);
          throw new Error('client went away');
        })(),
      );
      await expect(s.write('fail/partial.bin', failing)).rejects.toThrow();
      await expectCode(s.stat('fail/partial.bin'), 'NotFound');
    });

    it('copy: server-side copy keeps the source', async () => {
      if (!s.copy) return;
      await s.write('cp/src.txt', 'copy me', { contentType: 'text/plain' });
      await s.copy('cp/src.txt', 'cp/dst/copied.txt');
      expect(await readText(s, 'cp/dst/copied.txt')).toBe('copy me');
      expect(await readText(s, 'cp/src.txt')).toBe('copy me');
      await s.write('cp/other.txt', 'old');
      await s.copy('cp/src.txt', 'cp/other.txt');
      expect(await readText(s, 'cp/other.txt')).toBe('copy me');
      await expectCode(s.copy('cp/none', 'cp/x'), 'NotFound');
      await expectCode(s.copy('cp/dst', 'cp/x'), 'IsADirectory');
    });

    it('rename: files', async () => {
      if (!s.rename) return;
      const t = new Date('2020-01-01T00:00:00Z');
      await s.write('mv/a.txt', 'AAA', { mtime: t });
      await s.rename('mv/a.txt', 'mv/sub/b.txt');
      await expectCode(s.stat('mv/a.txt'), 'NotFound');
      expect(await readText(s, 'mv/sub/b.txt')).toBe('AAA');
      expect((await s.stat('mv/sub/b.txt')).mtime.getTime()).toBe(t.getTime());
      await s.write('mv/c.txt', 'C');
      await s.rename('mv/c.txt', 'mv/sub/b.txt');
      expect(await readText(s, 'mv/sub/b.txt')).toBe('C');
      await expectCode(s.rename('mv/missing', 'mv/x'), 'NotFound');
    });

    it('rename: folders with everything below them', async () => {
      if (!s.rename) return;
      await s.write('mvd/src/one.txt', '1');
      await s.write('mvd/src/deep/two.txt', '22');
      await s.mkdir('mvd/src/empty');
      await s.rename('mvd/src', 'mvd/dst');
      await expectCode(s.stat('mvd/src'), 'NotFound');
      expect(await shape(s.list('mvd/dst', { recursive: true }))).toEqual([
        'mvd/dst/deep/',
        'mvd/dst/deep/two.txt:2',
        'mvd/dst/empty/',
        'mvd/dst/one.txt:1',
      ]);
      await s.mkdir('mvd/other');
      await expectCode(s.rename('mvd/dst', 'mvd/other'), 'AlreadyExists');
      await expectCode(s.rename('mvd/dst', 'mvd/dst/inside'), 'InvalidArgument');
    });

    it('removeTree: removes a folder and all below it', async () => {
      if (!s.removeTree) return;
      await s.write('tree/a/b.txt', 'b');
      await s.write('tree/c.txt', 'c');
      await s.write('treeish.txt', 'sibling with the same prefix');
      await s.removeTree('tree');
      await expectCode(s.stat('tree'), 'NotFound');
      expect(await readText(s, 'treeish.txt')).toBe('sibling with the same prefix');
      await expectCode(s.removeTree('tree'), 'NotFound');
    });

    // Issue 7: names paths cannot express, tree copies and moves (operations.ts) on every backend.
    it('encoded names (‛ + percent-encoding) are ordinary names; non-canonical ones are refused', async () => {
      const nfd = '\u201bCafe%CC%81.jpg';
      await s.write(`enc/${nfd}`, 'decomposed');
      await s.write('enc/Caf\u00e9.jpg', 'composed');
      expect((await collect(s.list('enc'))).map((e) => e.name).sort()).toEqual(['Caf\u00e9.jpg', nfd].sort());
      expect(await readText(s, `enc/${nfd}`)).toBe('decomposed');
      expect(await readText(s, 'enc/Caf\u00e9.jpg')).toBe('composed');
      await expectCode(s.write('enc/\u201bplain', 'x'), 'InvalidArgument');
      await expectCode(s.stat('enc/\u201bCafe%cc%81.jpg'), 'InvalidArgument');
    });

    it('copyTree and move carry every name (encoded ones too) to another storage and back', async () => {
      const names = ['plain.txt', '\u201bCafe%CC%81.jpg', '\u201bx%07y', 'sub/deep.txt'].filter(
        (n) => backend.controlCharNames !== false || !n.includes('%07'),
      );
      const mtime = new Date('2004-05-06T07:08:09Z');
      for (const n of names) await s.write(`ops/src/${n}`, `bytes of ${n}`, { mtime });
      const mem = checkedStorage(new MemoryStorage());
      expect(await copyTree(s, 'ops/src', mem, 'copy')).toBe(names.length);
      await move(s, 'ops/src', mem, 'moved');
      await expectCode(s.stat('ops/src'), 'NotFound');
      for (const n of names) {
        expect(await readText(mem, `moved/${n}`)).toBe(`bytes of ${n}`);
        expect((await mem.stat(`moved/${n}`)).mtime.toISOString()).toBe(mtime.toISOString());
      }
      await move(mem, 'moved', s, 'ops/back');
      for (const n of names) expect(await readText(s, `ops/back/${n}`)).toBe(`bytes of ${n}`);
      await expectCode(mem.stat('moved'), 'NotFound');
    });

    it('a move deletes only what it copied: a file the destination refuses stays in the source', async () => {
      for (const n of ['a.txt', 'refused.txt', 'sub/b.txt']) await s.write(`mv2/${n}`, n);
      const mem = checkedStorage(new MemoryStorage());
      // A destination that refuses one name (as a local folder refuses a key `a//b`).
      const refusing: Storage = {
        ...mem,
        description: 'refusing',
        write: async (path, body, options) => {
          if (path.endsWith('refused.txt'))
            throw new StorageError('InvalidArgument', `cannot carry /${path}`);
          return mem.write(path, body, options);
        },
      };
      const err = await move(s, 'mv2', refusing, 'dst', { concurrency: 1 }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'InvalidArgument', message: 'cannot carry /dst/refused.txt' });
      expect(await readText(s, 'mv2/refused.txt')).toBe('refused.txt');
      // Every other file is on one side or the other, never on neither.
      for (const n of ['a.txt', 'sub/b.txt']) {
        const inSource = await s.stat(`mv2/${n}`).then(
          () => true,
          () => false,
        );
        const inDest = await mem.stat(`dst/${n}`).then(
          () => true,
          () => false,
        );
        expect(inSource || inDest, n).toBe(true);
      }
    });

    it('copyFile stats a listing entry so mtime, content type and metadata are kept', async () => {
      await s.write('cf/f.txt', 'f', {
        mtime: new Date('2005-06-07T08:09:10Z'),
        contentType: 'text/x-cf',
        metadata: { k: 'v' },
      });
      const listed = (await collect(s.list('cf'))).find((e) => e.name === 'f.txt');
      const mem = checkedStorage(new MemoryStorage());
      await copyFile(s, 'cf/f.txt', mem, 'f.txt', { known: listed });
      const copied = await mem.stat('f.txt');
      expect(copied.mtime.toISOString()).toBe('2005-06-07T08:09:10.000Z');
      if (backend.keepsMetadata) {
        expect(copied.contentType).toBe('text/x-cf');
        expect(copied.metadata).toMatchObject({ k: 'v' });
      }
    });
  });
}
