import { lstat, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { LocalStorage } from '../../src/storage/local/local-storage.js';

// LocalStorage.write of a small file of known size takes the lean path (small-write.ts): one
// open/write/close into a hidden partial file, mtime set on the descriptor, a rename, folders
// remembered. Every rule of `write` must still hold there.

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});
async function fresh(): Promise<{ root: string; s: LocalStorage }> {
  const root = await mkdtemp(join(tmpdir(), 'ferry-small-write-'));
  dirs.push(root);
  return { root, s: new LocalStorage(root) };
}
const body = (text: string) => Readable.from([Buffer.from(text.slice(0, 3)), Buffer.from(text.slice(3))]);
async function partials(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true })).filter((n) => n.includes('.ferry-partial-'));
}

describe('local small write (known size)', () => {
  it('writes the bytes, sets the mtime, and returns the entry a stat gives', async () => {
    const { root, s } = await fresh();
    const mtime = new Date('2021-03-04T05:06:07.891Z');
    const entry = await s.write('a/b/c.txt', body('hello small'), { size: 11, mtime });
    expect(await readFile(join(root, 'a/b/c.txt'), 'utf8')).toBe('hello small');
    expect(entry).toEqual(await s.stat('a/b/c.txt'));
    expect(entry).toMatchObject({ type: 'file', size: 11, name: 'c.txt' });
    expect(entry.mtime.getTime()).toBe(mtime.getTime());
    // No mtime asked: the entry's mtime is the file's.
    const now = await s.write('a/b/d.txt', Buffer.from('x'), { size: 1 });
    expect(now.mtime.getTime()).toBe((await s.stat('a/b/d.txt')).mtime.getTime());
    expect(await partials(root)).toEqual([]);
  });

  it('makes a remembered folder again when it was removed, and says NotADirectory when a file took its place', async () => {
    const { root, s } = await fresh();
    await s.write('f/one.txt', Buffer.from('1'), { size: 1 });
    await rm(join(root, 'f'), { recursive: true }); // behind the storage's back
    await s.write('f/two.txt', Buffer.from('2'), { size: 1 });
    expect(await readFile(join(root, 'f/two.txt'), 'utf8')).toBe('2');
    await rm(join(root, 'f'), { recursive: true });
    await writeFile(join(root, 'f'), 'a file now');
    await expect(s.write('f/three.txt', Buffer.from('3'), { size: 1 })).rejects.toMatchObject({
      code: 'NotADirectory',
    });
    expect(await readFile(join(root, 'f'), 'utf8')).toBe('a file now');
  });

  it('refuses a name it cannot write (too long, `..`, NUL) and leaves no partial file', async () => {
    const { root, s } = await fresh();
    await mkdir(join(root, 'd'));
    await expect(s.write(`d/${'x'.repeat(300)}`, Buffer.from('y'), { size: 1 })).rejects.toMatchObject({
      code: 'InvalidArgument',
    });
    for (const encoded of ['d/‛..', 'd/‛%00'])
      await expect(s.write(encoded, Buffer.from('y'), { size: 1 })).rejects.toMatchObject({
        code: 'InvalidArgument',
      });
    expect(await readdir(join(root, 'd'))).toEqual([]);
  });

  it('onto a folder is IsADirectory and the folder stays', async () => {
    const { root, s } = await fresh();
    await mkdir(join(root, 'dir/inner'), { recursive: true });
    await expect(s.write('dir', Buffer.from('y'), { size: 1 })).rejects.toMatchObject({
      code: 'IsADirectory',
    });
    expect((await lstat(join(root, 'dir/inner'))).isDirectory()).toBe(true);
    expect(await partials(root)).toEqual([]);
  });

  it('does not write through a symlink planted at the target', async () => {
    const { root, s } = await fresh();
    const outside = await mkdtemp(join(tmpdir(), 'ferry-small-write-out-'));
    dirs.push(outside);
    await writeFile(join(outside, 'secret'), 'outside');
    await writeFile(join(root, 'other.txt'), 'other');
    await symlink(join(root, 'other.txt'), join(root, 'inside-link'));
    await symlink(join(outside, 'secret'), join(root, 'outside-link'));
    await s.write('inside-link', Buffer.from('new'), { size: 3 });
    // The link is replaced by the file; what it pointed at is untouched.
    expect((await lstat(join(root, 'inside-link'))).isSymbolicLink()).toBe(false);
    expect(await readFile(join(root, 'inside-link'), 'utf8')).toBe('new');
    expect(await readFile(join(root, 'other.txt'), 'utf8')).toBe('other');
    await expect(s.write('outside-link', Buffer.from('new'), { size: 3 })).rejects.toMatchObject({
      code: 'PermissionDenied',
    });
    expect(await readFile(join(outside, 'secret'), 'utf8')).toBe('outside');
    expect(await partials(root)).toEqual([]);
  });

  it('a body that fails or an abort mid-way leaves nothing under the name, and the old file intact', async () => {
    const { root, s } = await fresh();
    await writeFile(join(root, 'keep.txt'), 'old');
    const failing = new Readable({
      read() {
        this.push(Buffer.from('part'));
        this.destroy(new Error('connection reset'));
      },
    });
    await expect(s.write('keep.txt', failing, { size: 100 })).rejects.toThrow();
    await expect(s.write('new.txt', failing, { size: 100 })).rejects.toThrow();
    const ac = new AbortController();
    const slow = new Readable({ read() {} });
    slow.push(Buffer.from('first'));
    const writing = s.write('keep.txt', slow, { size: 100, signal: ac.signal });
    setTimeout(() => ac.abort(), 50);
    await expect(writing).rejects.toMatchObject({ name: 'AbortError' });
    expect(await readFile(join(root, 'keep.txt'), 'utf8')).toBe('old');
    expect(await readdir(root)).toEqual(['keep.txt']);
  });
});
