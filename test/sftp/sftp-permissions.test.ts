import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { permissionNames } from '../../src/accounts/model.js';
import type { Actor } from '../../src/accounts/types.js';
import {
  HomeInS3,
  p,
  type SftpTestServer,
  type SftpUser,
  sftpBatch,
  sftpClient,
  startSftpServer,
} from '../support/sftp.js';

const SYSTEM: Actor = { kind: 'system', name: 'system', role: 'admin' };

describe('SFTP permission refusals and chroot escapes (OpenSSH sftp on RGW)', () => {
  let server: SftpTestServer;
  let s3: HomeInS3;
  let local: string;
  const users: Record<string, SftpUser> = {};

  /** A user with every permission but `missing`, and `seed.txt` + `dir/` in their home. */
  async function userWithout(missing: string, extra: Record<string, unknown> = {}): Promise<SftpUser> {
    const name = `no-${missing}`;
    const permissions = { '/': permissionNames.filter((n) => n !== missing) };
    const user = await server.addUser(name, { permissions, ...extra });
    for (const key of ['seed.txt', 'dir/inside.txt', 'empty/'])
      await s3.client.send(
        new PutObjectCommand({
          Bucket: server.conn.bucket,
          Key: s3.key(name, key),
          Body: key.endsWith('/') ? '' : 'seed',
        }),
      );
    return user;
  }

  beforeAll(async () => {
    server = await startSftpServer();
    s3 = new HomeInS3(server);
    local = mkdtempSync(join(tmpdir(), 'ferry-sftp-perm-'));
    writeFileSync(join(local, 'new.txt'), 'new');
    for (const m of ['upload', 'overwrite', 'download', 'delete', 'rename', 'mkdir', 'list', 'set-times'])
      users[m] = await userWithout(m);
    users.refuse = await server.addUser('chmod-refused', { setstatMode: 'refuse' });
    await server.server.accounts.mounts.create(
      {
        owner: { user: 'alice' },
        path: '/shared',
        readOnly: true,
        target: { type: 's3', connection: 'default', prefix: `${server.conn.prefix}/shared-area` },
      },
      SYSTEM,
    );
    await s3.client.send(
      new PutObjectCommand({
        Bucket: server.conn.bucket,
        Key: `${server.conn.prefix}/shared-area/doc.txt`,
        Body: 'shared',
      }),
    );
  });
  afterAll(async () => {
    await server?.close();
  });

  const run = (user: SftpUser, commands: string[]) => sftpBatch(server, user, commands, { cwd: local });
  const denied = /Permission denied/;

  it.each([
    ['upload', ['put new.txt fresh.txt']],
    ['overwrite', ['put new.txt seed.txt']],
    ['download', ['get seed.txt got.txt']],
    ['delete', ['rm seed.txt']],
    ['delete', ['rmdir empty']],
    ['rename', ['rename seed.txt moved.txt']],
    ['mkdir', ['mkdir made']],
  ])('a user without %s is refused %s with PERMISSION_DENIED, nothing changes', async (missing, commands) => {
    const user = users[missing] as SftpUser;
    const before = await s3.keys(user.username);
    const r = await run(user, commands);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(denied);
    expect(await s3.keys(user.username)).toEqual(before);
  });

  it('a user without list: OPENDIR and STAT are PERMISSION_DENIED (OpenSSH says "not found" for ls)', async () => {
    const c = await sftpClient(server, users.list as SftpUser);
    await expect(p<Buffer>((cb) => c.sftp.opendir('/dir', cb))).rejects.toMatchObject({ code: 3 });
    await expect(p<unknown>((cb) => c.sftp.stat('/seed.txt', cb))).rejects.toMatchObject({ code: 3 });
    c.end();
  });

  it('what each user may still do works (the refusals above are not blanket ones)', async () => {
    const r = await run(users.upload as SftpUser, ['get seed.txt got.txt', 'ls dir', 'mkdir ok']);
    expect(r.code).toBe(0);
    const o = await run(users.overwrite as SftpUser, ['put new.txt another.txt']);
    expect(o.code).toBe(0);
  });

  it('set-times refused: put -p fails PERMISSION_DENIED; setstat_mode refuse: chmod is PERMISSION_DENIED, ignore: OK', async () => {
    const t = await run(users['set-times'] as SftpUser, ['chmod 600 seed.txt']);
    expect(t.code).toBe(0); // chmod is setstat_mode's business (ignore), not set-times
    const c = await run(users.refuse as SftpUser, ['put new.txt n.txt', 'chmod 600 n.txt']);
    expect(c.code).not.toBe(0);
    expect(c.stderr).toMatch(denied);
    const c2 = await sftpClient(server, users['set-times'] as SftpUser);
    await expect(
      p((cb) => c2.sftp.setstat('/seed.txt', { mtime: new Date(0), atime: new Date(0) }, cb)),
    ).rejects.toMatchObject({ code: 3 });
    c2.end();
  });

  it('chroot: .. and absolute paths stay inside the home; nothing lands outside it', async () => {
    const r = await run(server.user, [
      'cd ../../..',
      'pwd',
      'put new.txt ../../escape.txt',
      'put new.txt /../../../abs.txt',
      '-get /etc/passwd passwd',
      'ls /',
    ]);
    expect(r.stdout).toMatch(/Remote working directory: \/\n/);
    expect(r.stderr).toMatch(/not found|No such file/i);
    const keys = await s3.keys('alice');
    expect(keys).toEqual(expect.arrayContaining(['escape.txt', 'abs.txt']));
    // Nothing under the server's prefix but the homes and the mount's folder.
    const all = await s3.client.send(
      new ListObjectsV2Command({
        Bucket: server.conn.bucket,
        Prefix: `${server.conn.prefix}/`,
        Delimiter: '/',
      }),
    );
    const top = (all.Contents ?? []).map((o) => o.Key);
    expect(top).toEqual([]);
  });

  it('symlink requests are refused (OP_UNSUPPORTED), they reveal nothing', async () => {
    const c = await sftpClient(server, server.user);
    await expect(p((cb) => c.sftp.symlink('/etc/passwd', '/link', cb))).rejects.toMatchObject({ code: 8 });
    await expect(p<string>((cb) => c.sftp.readlink('/escape.txt', cb))).rejects.toMatchObject({ code: 8 });
    await expect(p<string>((cb) => c.sftp.readlink('/../../etc/passwd', cb))).rejects.toMatchObject({
      code: 8,
    });
    c.end();
  });

  it('paths through a read-only mount: readable, not writable, .. out of it goes back to the home', async () => {
    const r = await run(server.user, [
      'get /shared/doc.txt shared.back',
      'ls /shared',
      'put new.txt /shared/../via-mount.txt',
    ]);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    expect(r.stdout).toContain('doc.txt');
    expect(await s3.keys('alice')).toContain('via-mount.txt');
    const w = await run(server.user, ['put new.txt /shared/x.txt']);
    expect(w.code).not.toBe(0);
    expect(w.stderr).toMatch(denied);
    const mv = await run(server.user, ['rename /shared /elsewhere']);
    expect(mv.stderr).toMatch(denied);
  });
});
