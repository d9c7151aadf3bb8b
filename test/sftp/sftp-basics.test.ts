import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aws } from '../support/aws-cli.js';
import { HomeInS3, type SftpTestServer, sftpBatch, startSftpServer } from '../support/sftp.js';

describe('SFTP with OpenSSH sftp -b on RGW', () => {
  let server: SftpTestServer;
  let s3: HomeInS3;
  let local: string;

  beforeAll(async () => {
    server = await startSftpServer();
    s3 = new HomeInS3(server);
    local = mkdtempSync(join(tmpdir(), 'ferry-sftp-local-'));
  });
  afterAll(async () => {
    await server?.close();
  });

  const run = (commands: string[]) => sftpBatch(server, server.user, commands, { cwd: local });
  const keys = () => s3.keys('alice');

  it('put, get, ls -l, rename, rm, mkdir, rmdir: what OpenSSH shows and what lands in S3', async () => {
    const body = randomBytes(3 * 1024 * 1024 + 17);
    writeFileSync(join(local, 'a.bin'), body);
    const up = await run(['mkdir docs', 'put a.bin docs/a.bin', 'ls -l docs']);
    expect(up.stderr).toBe('');
    expect(up.code).toBe(0);
    expect(up.stdout).toMatch(/-rw-r--r--\s+1 alice\s+alice\s+3145745 \w{3} [ \d]\d \d\d:\d\d a\.bin\n/);
    expect(await keys()).toEqual(expect.arrayContaining(['docs/', 'docs/a.bin']));

    const down = await run(['get docs/a.bin back.bin', 'rename docs/a.bin docs/b.bin', 'ls docs']);
    expect(down.code).toBe(0);
    expect(readFileSync(join(local, 'back.bin')).equals(body)).toBe(true);
    expect(down.stdout).toMatch(/^docs\/b\.bin\s*$/m);
    expect(down.stdout).not.toMatch(/^docs\/a\.bin/m);

    const gone = await run(['rm docs/b.bin', 'rmdir docs', 'ls -la']);
    expect(gone.code).toBe(0);
    expect(await keys()).toEqual([]);
    expect(gone.stdout).toMatch(/drwxr-xr-x.* \.\n/);
  });

  it('rename fails when the target exists; posix-rename (OpenSSH rename) replaces', async () => {
    writeFileSync(join(local, 'one.txt'), 'one');
    writeFileSync(join(local, 'two.txt'), 'two');
    // OpenSSH's `rename` uses posix-rename@openssh.com when the server names it in VERSION.
    const r = await run([
      'put one.txt r1.txt',
      'put two.txt r2.txt',
      'rename r1.txt r2.txt',
      'get r2.txt r2.back',
    ]);
    expect(r.code).toBe(0);
    expect(readFileSync(join(local, 'r2.back'), 'utf8')).toBe('one');
    expect(await keys()).toContain('r2.txt');
    expect(await keys()).not.toContain('r1.txt');
  });

  it('put -p keeps the mtime: ls -l shows it, S3 holds it as X-Amz-Meta-Mtime, no extra copy', async () => {
    writeFileSync(join(local, 'old.txt'), 'dated');
    const when = new Date('2021-03-04T05:06:07Z');
    utimesSync(join(local, 'old.txt'), when, when);
    const r = await run(['put -p old.txt old.txt', 'ls -l old.txt']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/ Mar {2}4 {2}2021 old\.txt/);
    const head = await aws(
      's3api',
      'head-object',
      '--bucket',
      server.conn.bucket,
      '--key',
      s3.key('alice', 'old.txt'),
    );
    expect(Number(head.Metadata.mtime)).toBe(when.getTime() / 1000);
    const back = await run(['get -p old.txt old.back']);
    expect(back.code).toBe(0);
    expect(statSync(join(local, 'old.back')).mtime.getTime()).toBe(when.getTime());
  });

  it('df (statvfs@openssh.com) answers; ln (hardlink) and symlinks are refused cleanly', async () => {
    writeFileSync(join(local, 'x.txt'), 'x');
    const df = await run(['df -h']);
    expect(df.code).toBe(0);
    expect(df.stdout).toMatch(/Size\s+Used\s+Avail/);
    const ln = await run(['put x.txt x.txt', '-ln -s x.txt y.txt', '-ln x.txt z.txt', 'ls']);
    expect(ln.stderr).toMatch(/symbolic links are not supported|Operation unsupported/);
    expect(ln.stderr).toMatch(/hardlink|not supported/i);
    expect(await keys()).not.toContain('y.txt');
    expect(await keys()).not.toContain('z.txt');
  });

  it('errors: a missing file is "No such file", mkdir over a file fails, nothing partial is left', async () => {
    const r = await run(['-get nope.txt', '-rmdir nope', '-cd nope']);
    expect(r.stderr).toMatch(/not found|No such file/i);
    expect(await s3.multipartUploads()).toBe(0);
  });
});
