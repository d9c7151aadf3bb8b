import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkedStorage } from '../../src/storage/checked.js';
import { LocalStorage } from '../../src/storage/local/local-storage.js';
import { readHandleConformance } from '../conformance/read-handle-contract.js';
import { storageConformance } from '../conformance/storage-contract.js';
import { writeHandleConformance } from '../conformance/write-handle-contract.js';
import { collect, readText } from '../support/collect.js';

storageConformance('local', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ferry-local-'));
  return {
    storage: checkedStorage(new LocalStorage(dir)),
    keepsMetadata: false,
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});

writeHandleConformance('local', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ferry-local-wh-'));
  return {
    storage: checkedStorage(new LocalStorage(dir)),
    keepsMetadata: false,
    large: 3 * 1024 * 1024 + 4321,
    window: 1024 * 1024,
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});

readHandleConformance('local', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ferry-local-rh-'));
  return {
    storage: checkedStorage(new LocalStorage(dir)),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});

describe('local backend: the root is a chroot', () => {
  it('refuses paths that leave the root through a symlink', async () => {
    const outside = await mkdtemp(join(tmpdir(), 'ferry-outside-'));
    const root = await mkdtemp(join(tmpdir(), 'ferry-root-'));
    await writeFile(join(outside, 'secret.txt'), 'secret');
    await symlink(outside, join(root, 'escape'));
    await mkdir(join(root, 'inside'));
    await symlink(join(root, 'inside'), join(root, 'alias'));
    const s = checkedStorage(new LocalStorage(root));
    await expect(s.read('escape/secret.txt')).rejects.toMatchObject({ code: 'PermissionDenied' });
    await expect(s.write('escape/new.txt', 'x')).rejects.toMatchObject({ code: 'PermissionDenied' });
    await expect(collect(s.list('escape'))).rejects.toMatchObject({ code: 'PermissionDenied' });
    // A symlink that stays inside is fine.
    await s.write('alias/ok.txt', 'ok');
    expect(await readText(s, 'inside/ok.txt')).toBe('ok');
    await rm(outside, { recursive: true, force: true });
    await rm(root, { recursive: true, force: true });
  });
});

describe('local backend: names, symlink loops and escapes (issue 7, defects 2 and 10)', () => {
  const fresh = async () => {
    const root = await mkdtemp(join(tmpdir(), 'ferry-local-names-'));
    return { root, s: checkedStorage(new LocalStorage(root)) };
  };

  it('lists an NFD file name (from macOS) under its encoded name and reads it byte-exactly', async () => {
    const { root, s } = await fresh();
    await writeFile(join(root, 'Cafe\u0301.jpg'), 'decomposed');
    await writeFile(join(root, 'Caf\u00e9.jpg'), 'composed');
    await writeFile(join(root, 'bell\u0007'), 'bell');
    expect((await collect(s.list(''))).map((e) => e.path).sort()).toEqual(
      ['Caf\u00e9.jpg', '\u201bCafe%CC%81.jpg', '\u201bbell%07'].sort(),
    );
    expect(await readText(s, '\u201bCafe%CC%81.jpg')).toBe('decomposed');
    expect(await readText(s, 'Caf\u00e9.jpg')).toBe('composed');
    await s.write('\u201bbell%07', 'rung');
    expect(await readFile(join(root, 'bell\u0007'), 'utf8')).toBe('rung');
    await s.rename!('\u201bCafe%CC%81.jpg', 'sub/\u201bCafe%CC%81.jpg');
    expect(await readFile(join(root, 'sub', 'Cafe\u0301.jpg'), 'utf8')).toBe('decomposed');
    // Names no local folder can hold are refused, not collapsed into another name.
    await expect(s.write('a/\u201b/b', 'x')).rejects.toMatchObject({ code: 'InvalidArgument' });
    await expect(s.write('\u201b..', 'x')).rejects.toMatchObject({ code: 'InvalidArgument' });
    await rm(root, { recursive: true, force: true });
  });

  it('a file name that is not UTF-8 is an error, not a silent skip', async () => {
    const { root, s } = await fresh();
    await writeFile(Buffer.concat([Buffer.from(`${root}/bad-`), Buffer.from([0xff, 0xfe])]), 'x');
    await expect(collect(s.list(''))).rejects.toMatchObject({ code: 'InvalidArgument' });
    await rm(root, { recursive: true, force: true });
  });

  it('a recursive listing through `loop -> ..` fails naming the loop instead of recursing until ELOOP', async () => {
    const { root, s } = await fresh();
    await mkdir(join(root, 'd'));
    await writeFile(join(root, 'd/f.txt'), 'f');
    await symlink('..', join(root, 'd/loop'));
    const err = await collect(s.list('', { recursive: true })).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'InvalidArgument', path: 'd/loop' });
    // A non-recursive listing shows the link as the folder it leads to.
    expect((await collect(s.list('d'))).map((e) => `${e.path}:${e.type}`)).toEqual([
      'd/f.txt:file',
      'd/loop:dir',
    ]);
    await rm(root, { recursive: true, force: true });
  });

  it('a listing meeting a symlink that leads out of the root is PermissionDenied, naming it', async () => {
    const { root, s } = await fresh();
    const outside = await mkdtemp(join(tmpdir(), 'ferry-outside-'));
    await writeFile(join(outside, 'secret.txt'), 'secret');
    await mkdir(join(root, 'd'));
    await symlink(outside, join(root, 'd/escape'));
    await symlink(join(outside, 'secret.txt'), join(root, 'd/secret-link'));
    for (const recursive of [true, false]) {
      const err = await collect(s.list(recursive ? '' : 'd', { recursive })).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'PermissionDenied' });
      expect((err as Error).message).toMatch(/d\/(escape|secret-link)/);
    }
    await rm(outside, { recursive: true, force: true });
    await rm(root, { recursive: true, force: true });
  });

  it('a recursive listing meeting a dangling symlink says so', async () => {
    const { root, s } = await fresh();
    await symlink(join(root, 'nowhere'), join(root, 'dangling'));
    await expect(collect(s.list('', { recursive: true }))).rejects.toMatchObject({
      code: 'NotFound',
      path: 'dangling',
    });
    await rm(root, { recursive: true, force: true });
  });
});

describe('local backend: long non-ASCII names', () => {
  it('a file whose name is near the 255-byte limit is written by write and by a write handle', async () => {
    const root = await mkdtemp(join(tmpdir(), 'ferry-local-long-'));
    try {
      const s = checkedStorage(new LocalStorage(root));
      const name = '\u3042'.repeat(84); // 252 bytes of UTF-8: a valid file name
      await s.write(name, Buffer.from('by write'));
      expect(await readFile(join(root, name), 'utf8')).toBe('by write');
      const h = await s.openWrite!(`${name}.x`.slice(1));
      await h.write(0, Buffer.from('by handle'));
      await h.close();
      expect(await readText(s, `${name}.x`.slice(1))).toBe('by handle');
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
