import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../../src/db/database.js';
import { normalizeVirtual, Tree } from '../../src/session/resolve.js';
import type { Session } from '../../src/session/types.js';
import { StorageError } from '../../src/storage/errors.js';
import { sessionFor, tempStore, userWith } from './support.js';

async function names(session: Session, path: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of session.list(path)) out.push(`${e.name}${e.type === 'dir' ? '/' : ''}`);
  return out.sort();
}

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    if (err instanceof StorageError) return err.code;
    throw err;
  }
}

describe('resolve: virtual paths, chroot and mounts (local storage, real files)', () => {
  let store: Store;
  let dir: string;
  let home: string;
  let shared: string;
  let outside: string;

  beforeAll(async () => {
    ({ store, dir } = await tempStore());
    home = join(dir, 'homes', 'alice');
    shared = join(dir, 'shared');
    outside = join(dir, 'homes');
    mkdirSync(shared, { recursive: true });
    writeFileSync(join(shared, 'readme.txt'), 'shared file');
    writeFileSync(join(dir, 'secret.txt'), 'not for alice');
  });
  afterAll(() => store?.close());

  it('normalises lexically and never climbs above /', () => {
    expect(normalizeVirtual('')).toBe('/');
    expect(normalizeVirtual('a/b/../c')).toBe('/a/c');
    expect(normalizeVirtual('/../..')).toBe('/');
    expect(normalizeVirtual('/a/../../../etc/passwd')).toBe('/etc/passwd');
    expect(normalizeVirtual('//a/./b//')).toBe('/a/b');
    expect(normalizeVirtual('/%2e%2e/x')).toBe('/%2e%2e/x');
    expect(() => normalizeVirtual('/a\u0000b')).toThrow(/control character/);
    expect(() => normalizeVirtual('/a\nb')).toThrow(StorageError);
  });

  it('the longest mount prefix wins', () => {
    const t = new Tree(
      userWith({
        home: { type: 'local', path: '/h' },
        mounts: [
          { path: '/shared', target: { type: 'local', path: '/s' }, readOnly: false },
          { path: '/shared/docs', target: { type: 'local', path: '/d' }, readOnly: true },
        ],
      }),
    );
    expect(t.resolve('/shared/docs/x/y.txt')).toMatchObject({
      vpath: '/shared/docs/x/y.txt',
      path: 'x/y.txt',
    });
    expect(t.resolve('/shared/docs/x/y.txt').root.path).toBe('/shared/docs');
    expect(t.resolve('/shared/docsx').root.path).toBe('/shared');
    expect(t.resolve('/shared/docsx').path).toBe('docsx');
    expect(t.resolve('/other').root.home).toBe(true);
    expect(t.resolve('/shared/../../x').root.home).toBe(true);
    expect(t.virtualChildren('/')).toEqual(['shared']);
    expect(t.virtualChildren('/shared')).toEqual(['docs']);
  });

  it('.., /../.., encoded names and absolute paths stay inside the home', async () => {
    const { session } = sessionFor(userWith({ home: { type: 'local', path: home } }), { store });
    await session.write('/../../secret.txt', 'mine');
    await session.write('../../../../etc/passwd', 'mine too');
    await session.write('/%2e%2e/x.txt', 'encoded stays a name');
    // Everything landed below the home; nothing outside it changed.
    expect(readFileSync(join(home, 'secret.txt'), 'utf8')).toBe('mine');
    expect(readFileSync(join(home, 'etc', 'passwd'), 'utf8')).toBe('mine too');
    expect(readFileSync(join(home, '%2e%2e', 'x.txt'), 'utf8')).toBe('encoded stays a name');
    expect(readFileSync(join(dir, 'secret.txt'), 'utf8')).toBe('not for alice');
    expect(readdirSync(outside)).toEqual(['alice']);
    // Reading "above" the root reads the home's own file.
    const text = await new Response((await session.read('/../secret.txt')) as never).text();
    expect(text).toBe('mine');
    expect(await names(session, '/..')).toEqual(['%2e%2e/', 'etc/', 'secret.txt']);
    expect(await code(session.write('/a\u0000b', 'x'))).toBe('InvalidArgument');
    expect(await code(session.stat('/a\u0007b'))).toBe('InvalidArgument');
  });

  it('a mount shows another folder at its path, as a folder in its parent, and is neither removable nor renamable', async () => {
    const user = userWith({
      username: 'bob',
      home: { type: 'local', path: join(dir, 'homes', 'bob') },
      mounts: [{ path: '/team/shared', target: { type: 'local', path: shared }, readOnly: false }],
    });
    const { session } = sessionFor(user, { store });
    await session.write('/top.txt', 'x');
    expect(await names(session, '/')).toEqual(['team/', 'top.txt']);
    expect(await names(session, '/team')).toEqual(['shared/']);
    expect(await names(session, '/team/shared')).toEqual(['readme.txt']);
    expect((await session.stat('/team')).type).toBe('dir');
    expect((await session.stat('/team/shared')).type).toBe('dir');
    expect((await session.stat('/team/shared/readme.txt')).path).toBe('team/shared/readme.txt');
    await session.write('/team/shared/new.txt', 'via mount');
    expect(readFileSync(join(shared, 'new.txt'), 'utf8')).toBe('via mount');
    expect(existsSync(join(dir, 'homes', 'bob', 'team', 'shared', 'new.txt'))).toBe(false);
    // `..` inside a mount resolves in the virtual tree, not in the mount's folder.
    await session.write('/team/shared/../../up.txt', 'home');
    expect(readFileSync(join(dir, 'homes', 'bob', 'up.txt'), 'utf8')).toBe('home');
    expect(existsSync(join(dir, 'up.txt'))).toBe(false);
    for (const p of [
      () => session.rmdir('/team/shared'),
      () => session.rmdir('/team'),
      () => session.remove('/team/shared'),
      () => session.rename('/team/shared', '/elsewhere'),
      () => session.rename('/team', '/elsewhere'),
      () => session.rename('/top.txt', '/team/shared'),
    ]) {
      expect(await code(p())).toBe('PermissionDenied');
    }
    expect(await code(session.mkdir('/team/shared'))).toBe('AlreadyExists');
    expect(await code(session.write('/team/shared', 'x'))).toBe('IsADirectory');
    // A file moves into and out of a mount (two storages: a streamed copy).
    await session.rename('/top.txt', '/team/shared/top.txt');
    expect(readFileSync(join(shared, 'top.txt'), 'utf8')).toBe('x');
    expect(existsSync(join(dir, 'homes', 'bob', 'top.txt'))).toBe(false);
  });

  it('a user without the mount reaches only their own home at that path', async () => {
    const { session } = sessionFor(
      userWith({ username: 'carol', home: { type: 'local', path: join(dir, 'homes', 'carol') } }),
      { store },
    );
    expect(await code(session.stat('/team/shared/readme.txt'))).toBe('NotFound');
    await session.write('/team/shared/readme.txt', 'carol');
    expect(readFileSync(join(shared, 'readme.txt'), 'utf8')).toBe('shared file');
    expect(readFileSync(join(dir, 'homes', 'carol', 'team', 'shared', 'readme.txt'), 'utf8')).toBe('carol');
  });

  it('errors name the virtual path, never the folder behind it', async () => {
    const { session } = sessionFor(
      userWith({
        username: 'dave',
        home: { type: 'local', path: join(dir, 'homes', 'dave') },
        mounts: [{ path: '/m', target: { type: 'local', path: shared }, readOnly: false }],
      }),
      { store },
    );
    const err = await session.stat('/m/missing.txt').catch((e: unknown) => e as StorageError);
    expect(err).toBeInstanceOf(StorageError);
    expect((err as StorageError).code).toBe('NotFound');
    expect((err as StorageError).message).toBe('no such file or folder: /m/missing.txt');
    expect((err as StorageError).message).not.toContain(dir);
  });
});
