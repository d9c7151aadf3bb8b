import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkedStorage } from '../../src/storage/checked.js';
import { LocalStorage } from '../../src/storage/local/local-storage.js';
import { readHandleConformance } from '../conformance/read-handle-contract.js';
import { storageConformance } from '../conformance/storage-contract.js';
import { collect, readText } from '../support/collect.js';

storageConformance('local', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ferry-local-'));
  return {
    storage: checkedStorage(new LocalStorage(dir)),
    keepsMetadata: false,
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
