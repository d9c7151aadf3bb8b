import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PermissionName } from '../../src/accounts/model.js';
import { permissionNames } from '../../src/accounts/model.js';
import type { Store } from '../../src/db/database.js';
import type { Session } from '../../src/session/types.js';
import { StorageError } from '../../src/storage/errors.js';
import { sessionFor, tempStore, userWith } from './support.js';

interface Case {
  name: string;
  /** Permissions (in /d) the operation needs. */
  needs: PermissionName[];
  run: (s: Session) => Promise<unknown>;
}

const cases: Case[] = [
  {
    name: 'list a folder',
    needs: ['list'],
    run: async (s) => {
      for await (const _ of s.list('/d'));
    },
  },
  { name: 'stat a file', needs: ['list'], run: (s) => s.stat('/d/f.txt') },
  { name: 'read', needs: ['download'], run: async (s) => (await s.read('/d/f.txt')).resume() },
  { name: 'openRead', needs: ['download'], run: async (s) => (await s.openRead('/d/f.txt')).close() },
  { name: 'hash', needs: ['download'], run: (s) => s.hash('/d/f.txt', 'sha256') },
  { name: 'write a new file', needs: ['upload'], run: (s) => s.write('/d/new.txt', 'n') },
  { name: 'write over an existing file', needs: ['overwrite'], run: (s) => s.write('/d/f.txt', 'o') },
  {
    name: 'append to an existing file',
    needs: ['overwrite'],
    run: async (s) => {
      const h = await s.openWrite('/d/f.txt', { mode: 'append' });
      await h.write(h.startOffset, Buffer.from('+'));
      await h.close();
    },
  },
  {
    name: 'append to a new file',
    needs: ['upload'],
    run: async (s) => (await s.openWrite('/d/new.txt', { mode: 'append' })).close(),
  },
  { name: 'remove a file', needs: ['delete'], run: (s) => s.remove('/d/f.txt') },
  { name: 'rmdir', needs: ['delete'], run: (s) => s.rmdir('/d/empty') },
  { name: 'rename', needs: ['rename'], run: (s) => s.rename('/d/f.txt', '/d/g.txt') },
  {
    name: 'rename over an existing file',
    needs: ['rename', 'overwrite'],
    run: (s) => s.rename('/d/f.txt', '/d/other.txt'),
  },
  { name: 'mkdir', needs: ['mkdir'], run: (s) => s.mkdir('/d/sub') },
  { name: 'set times', needs: ['set-times'], run: (s) => s.setModTime('/d/f.txt', new Date('2020-01-01')) },
  { name: 'copy to a new file', needs: ['download', 'upload'], run: (s) => s.copy('/d/f.txt', '/d/c.txt') },
  {
    name: 'copy over an existing file',
    needs: ['download', 'overwrite'],
    run: (s) => s.copy('/d/f.txt', '/d/other.txt'),
  },
];

describe('permissions: every operation refused without its permission and allowed with it', () => {
  let store: Store;
  let dir: string;
  let n = 0;

  beforeAll(async () => {
    ({ store, dir } = await tempStore());
  });
  afterAll(() => store?.close());

  /** A fresh home with /d/f.txt, /d/other.txt, /d/empty/ and the given permissions in /d. */
  function session(perms: PermissionName[]) {
    const home = join(dir, `h${n++}`);
    mkdirSync(join(home, 'd', 'empty'), { recursive: true });
    writeFileSync(join(home, 'd', 'f.txt'), 'file');
    writeFileSync(join(home, 'd', 'other.txt'), 'other');
    const user = userWith({
      home: { type: 'local', path: home },
      permissions: { '/': ['list'], '/d': perms },
    });
    return { ...sessionFor(user, { store }), home };
  }

  for (const c of cases) {
    it(`${c.name}: needs ${c.needs.join(' + ')}`, async () => {
      // Allowed with exactly what it needs.
      await c.run(session(c.needs).session);
      // Refused when any one of them is missing; the message names it and the virtual path only.
      for (const missing of c.needs) {
        const others = permissionNames.filter((p) => p !== missing);
        const { session: s, home, events } = session(others);
        const err = await c.run(s).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err, `${c.name} without ${missing}`).toBeInstanceOf(StorageError);
        expect((err as StorageError).code).toBe('PermissionDenied');
        expect((err as StorageError).message).toContain(missing);
        expect((err as StorageError).message).toMatch(/ \/d/);
        expect((err as StorageError).message).not.toContain(home);
        // Nothing changed on disk and the failure was an event.
        expect(readFileSync(join(home, 'd', 'f.txt'), 'utf8')).toBe('file');
        expect(events.at(-1)?.result ?? 'PermissionDenied').toBe('PermissionDenied');
      }
    });
  }

  it('the most specific path entry applies, for the folder that contains the name', async () => {
    const home = join(dir, 'specific');
    mkdirSync(join(home, 'in', 'deep'), { recursive: true });
    const user = userWith({
      home: { type: 'local', path: home },
      // Paths as an admin may write them: a trailing slash names the same folder.
      permissions: { '/': [...permissionNames], '/in/': ['list', 'upload'], '/in/deep': ['list'] },
    });
    const { session: s } = sessionFor(user, { store });
    await s.write('/top.txt', 'ok'); // `/`: everything
    await s.write('/in/a.txt', 'ok'); // `/in`: upload
    await expect(s.write('/in/a.txt', 'again')).rejects.toThrow(/overwrite/);
    await expect(s.write('/in/deep/b.txt', 'no')).rejects.toThrow(/upload at \/in\/deep\/b.txt/);
    await expect(s.remove('/in/a.txt')).rejects.toThrow(/delete/);
    // Creating or removing /in/x is governed by /in (its folder), listing /in/deep by itself.
    await expect(s.mkdir('/in/x')).rejects.toThrow(/mkdir/);
    await expect(s.rmdir('/in/deep')).rejects.toThrow(/delete at \/in\/deep/);
    for await (const _ of s.list('/in/deep'));
    await s.mkdir('/top');
    await s.rmdir('/top');
  });

  it('a read-only mount refuses every change whatever the permissions, and allows reading', async () => {
    const home = join(dir, 'ro-home');
    const ro = join(dir, 'ro-target');
    mkdirSync(join(ro, 'sub'), { recursive: true });
    writeFileSync(join(ro, 'f.txt'), 'read me');
    const user = userWith({
      home: { type: 'local', path: home },
      mounts: [{ path: '/ro', target: { type: 'local', path: ro }, readOnly: true }],
    });
    const { session: s } = sessionFor(user, { store });
    expect(await new Response((await s.read('/ro/f.txt')) as never).text()).toBe('read me');
    for (const p of [
      () => s.write('/ro/new.txt', 'x'),
      () => s.write('/ro/f.txt', 'x'),
      () => s.remove('/ro/f.txt'),
      () => s.mkdir('/ro/d'),
      () => s.rmdir('/ro/sub'),
      () => s.rename('/ro/f.txt', '/ro/g.txt'),
      () => s.rename('/ro/f.txt', '/mine.txt'),
      () => s.setModTime('/ro/f.txt', new Date()),
      () => s.copy('/ro/f.txt', '/ro/c.txt'),
    ]) {
      await expect(p()).rejects.toThrow(/read-only/);
    }
    // Copying out of it is a read there and an upload in the home.
    await s.copy('/ro/f.txt', '/mine.txt');
    expect(readFileSync(join(home, 'mine.txt'), 'utf8')).toBe('read me');
    expect(readFileSync(join(ro, 'f.txt'), 'utf8')).toBe('read me');
  });

  it('a mount with its own permissions: they apply inside it', async () => {
    const home = join(dir, 'mp-home');
    const target = join(dir, 'mp-target');
    mkdirSync(target, { recursive: true });
    const user = userWith({
      home: { type: 'local', path: home },
      mounts: [
        { path: '/drop', target: { type: 'local', path: target }, readOnly: false, permissions: ['upload'] },
      ],
    });
    const { session: s } = sessionFor(user, { store });
    await s.write('/drop/in.txt', 'dropped');
    await expect(s.read('/drop/in.txt')).rejects.toThrow(/download/);
    await expect(s.write('/drop/in.txt', 'again')).rejects.toThrow(/overwrite/);
    await expect(s.stat('/drop/in.txt')).rejects.toThrow(/list/);
  });

  it('setMode follows setstatMode', async () => {
    const home = join(dir, 'setstat');
    const ignore = sessionFor(userWith({ home: { type: 'local', path: home } }), { store }).session;
    await ignore.setMode('/x');
    const refuse = sessionFor(userWith({ home: { type: 'local', path: home }, setstatMode: 'refuse' }), {
      store,
    }).session;
    await expect(refuse.setMode('/x')).rejects.toMatchObject({ code: 'PermissionDenied' });
  });
});
