import type { SFTPWrapper, Stats } from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HomeInS3, p, type SftpTestServer, sftpClient, startSftpServer } from '../support/sftp.js';

/**
 * Review of issue 9: REALPATH of odd input, and paths climbing out of the home through STAT and
 * posix-rename, never reach outside the user's home.
 */
let server: SftpTestServer;
let s3: HomeInS3;
let sftp: SFTPWrapper;
let end: () => void;
beforeAll(async () => {
  server = await startSftpServer();
  s3 = new HomeInS3(server);
  await server.addUser('bob');
  ({ sftp, end } = await sftpClient(server, server.user));
}, 180_000);
afterAll(async () => {
  end?.();
  s3?.client.destroy();
  await server?.close();
});

describe('paths at the edges (review)', () => {
  it('REALPATH of odd input stays at or below /', async () => {
    const cases: [string, string | RegExp][] = [
      ['', '/'],
      ['.', '/'],
      ['../../..', '/'],
      ['/../../etc/passwd', '/etc/passwd'],
      ['a/../../b', '/b'],
      ['//a//./b/', '/a/b'],
      ['~', '/~'],
      [`${'../'.repeat(2000)}x`, '/x'],
    ];
    for (const [input, want] of cases) {
      const got = await p<string>((cb) => sftp.realpath(input, cb));
      expect(got, JSON.stringify(input.slice(0, 30))).toEqual(want);
    }
    // A control character is an error, not a path.
    await expect(p<string>((cb) => sftp.realpath('a\u0000b', cb))).rejects.toThrow();
  }, 60_000);

  it("STAT and posix-rename with paths climbing out reach only the user's own tree", async () => {
    const bobKey = `${server.homePrefix('bob')}/secret.txt`;
    const { PutObjectCommand } = await import('@aws-sdk/client-s3');
    await s3.client.send(new PutObjectCommand({ Bucket: server.conn.bucket, Key: bobKey, Body: 'bob' }));
    const h = await p<Buffer>((cb) => sftp.open('/mine.txt', 'w', cb));
    await p((cb) => sftp.write(h, Buffer.from('mine'), 0, 4, 0, cb));
    await p((cb) => sftp.close(h, cb));
    // ../bob/secret.txt is /bob/secret.txt in alice's tree: not found, never bob's file.
    await expect(p<Stats>((cb) => sftp.stat('../bob/secret.txt', cb))).rejects.toMatchObject({ code: 2 });
    // posix-rename to ../bob/secret.txt moves alice's file to /bob/secret.txt in her own home.
    await p((cb) => sftp.ext_openssh_rename('/mine.txt', '../bob/secret.txt', cb));
    const bobBody = await s3.client.send(
      new (await import('@aws-sdk/client-s3')).GetObjectCommand({ Bucket: server.conn.bucket, Key: bobKey }),
    );
    expect(await bobBody.Body?.transformToString()).toBe('bob');
    expect(await s3.keys('alice')).toEqual(['bob/secret.txt']);
  }, 60_000);
});
