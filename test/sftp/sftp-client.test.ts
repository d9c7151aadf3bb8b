import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import type { FileEntry, OpenMode, SFTPWrapper, Stats } from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HomeInS3, p, type SftpTestServer, sftpClient, startSftpServer, waitFor } from '../support/sftp.js';

const MiB = 1024 * 1024;

describe('SFTP through an ssh2 client on RGW (what OpenSSH sftp cannot drive)', () => {
  let server: SftpTestServer;
  let s3: HomeInS3;
  let local: string;
  let c: Awaited<ReturnType<typeof sftpClient>>;
  let sftp: SFTPWrapper;

  beforeAll(async () => {
    server = await startSftpServer();
    s3 = new HomeInS3(server);
    local = mkdtempSync(join(tmpdir(), 'ferry-sftp-client-'));
    c = await sftpClient(server, server.user);
    sftp = c.sftp;
  });
  afterAll(async () => {
    c?.end();
    await server?.close();
  });

  const open = (path: string, flags: OpenMode | number) => p<Buffer>((cb) => sftp.open(path, flags, cb));
  const write = (h: Buffer, data: Buffer, at: number) =>
    p((cb) => sftp.write(h, data, 0, data.length, at, cb));
  const read = (h: Buffer, len: number, at: number) =>
    new Promise<Buffer>((resolve, reject) =>
      sftp.read(h, Buffer.alloc(len), 0, len, at, (err, n, buf) =>
        err ? reject(err) : resolve(buf.subarray(0, n)),
      ),
    );
  const close = (h: Buffer) => p((cb) => sftp.close(h, cb));
  const stat = (path: string) => p<Stats>((cb) => sftp.stat(path, cb));
  const readFile = (path: string) => p<Buffer>((cb) => sftp.readFile(path, cb));
  const readdir = (path: string) => p<FileEntry[]>((cb) => sftp.readdir(path, cb));

  it('VERSION names the extensions and limits@openssh.com answers (the client uses 255 KiB writes and 255 KiB reads)', () => {
    const internals = sftp as unknown as {
      _extensions: Record<string, string>;
      _maxWriteLen: number;
      _maxReadLen: number;
    };
    expect(internals._extensions).toMatchObject({
      'posix-rename@openssh.com': '1',
      'statvfs@openssh.com': '2',
      'fsync@openssh.com': '1',
      'limits@openssh.com': '1',
      'copy-data': '1',
    });
    expect(internals._maxWriteLen).toBe(256 * 1024 - 1024);
    expect(internals._maxReadLen).toBe(256 * 1024 - 1024);
  });

  it('random writes in r+ (update mode): written at offsets, read back through the handle and after close', async () => {
    const base = randomBytes(3 * MiB);
    await p((cb) => sftp.writeFile('/rand.bin', base, cb));
    const h = await open('/rand.bin', 'r+');
    const patchA = Buffer.alloc(1000, 0xaa);
    const patchB = Buffer.alloc(5000, 0xbb);
    await write(h, patchB, 2 * MiB);
    await write(h, patchA, 10);
    await write(h, Buffer.from('tail'), 3 * MiB + 100); // past the end: the gap reads as zeros
    expect((await read(h, 1000, 10)).equals(patchA)).toBe(true);
    expect((await read(h, 20, 0)).equals(base.subarray(0, 10))).toBe(false); // 10 bytes base + patch
    await close(h);
    const expected = Buffer.concat([base, Buffer.alloc(100), Buffer.from('tail')]);
    patchA.copy(expected, 10);
    patchB.copy(expected, 2 * MiB);
    const back = await readFile('/rand.bin');
    expect(back.length).toBe(expected.length);
    expect(back.equals(expected)).toBe(true);
  });

  it('OPEN flags: wx on an existing file fails, r+ on a missing one is NO_SUCH_FILE, a appends whatever the offset', async () => {
    await p((cb) => sftp.writeFile('/flags.txt', 'abc', cb));
    await expect(open('/flags.txt', 'wx')).rejects.toThrow(/already exists/);
    await expect(open('/missing.txt', 'r+')).rejects.toMatchObject({ code: 2 });
    // WRITE|EXCL without CREAT: EXCL means nothing without CREAT (open(2)): a missing file is
    // NO_SUCH_FILE (not created), an existing one opens.
    const WRITE_EXCL = 0x02 | 0x20;
    await expect(open('/missing-excl.txt', WRITE_EXCL)).rejects.toMatchObject({ code: 2 });
    await close(await open('/flags.txt', WRITE_EXCL));
    const h = await open('/flags.txt', 'a');
    await write(h, Buffer.from('def'), 0); // APPEND: lands at the end, as O_APPEND
    await close(h);
    expect((await readFile('/flags.txt')).toString()).toBe('abcdef');
  });

  it('READ past the end is EOF; SETSTAT size other than the current one is unsupported', async () => {
    await p((cb) => sftp.writeFile('/small.txt', 'hello', cb));
    const h = await open('/small.txt', 'r');
    expect((await read(h, 100, 0)).toString()).toBe('hello');
    await expect(read(h, 100, 5)).resolves.toHaveLength(0); // ssh2 reports EOF as 0 bytes
    await close(h);
    await expect(p((cb) => sftp.setstat('/small.txt', { size: 5 }, cb))).resolves.toBeUndefined();
    await expect(p((cb) => sftp.setstat('/small.txt', { size: 2 }, cb))).rejects.toMatchObject({ code: 8 });
    const w = await open('/fresh.txt', 'w');
    await expect(p((cb) => sftp.fsetstat(w, { size: 0 }, cb))).resolves.toBeUndefined();
    await write(w, Buffer.from('x'), 0);
    await close(w);
  });

  it('FSETSTAT size on an r+ handle (scp overwriting in place): shrink cuts the old tail, grow adds zeros, SETSTAT on the path too', async () => {
    const old = randomBytes(12 * MiB);
    await p((cb) => sftp.writeFile('/shrink-r+.bin', old, cb));
    const h = await open('/shrink-r+.bin', 'r+');
    const fresh = randomBytes(6 * MiB + 123);
    for (let at = 0; at < fresh.length; at += 255 * 1024)
      await write(h, fresh.subarray(at, Math.min(fresh.length, at + 255 * 1024)), at);
    await p((cb) => sftp.fsetstat(h, { size: fresh.length }, cb));
    expect((await p<Stats>((cb) => sftp.fstat(h, cb))).size).toBe(fresh.length);
    await close(h);
    const back = await readFile('/shrink-r+.bin');
    expect(back.length).toBe(fresh.length);
    expect(back.equals(fresh)).toBe(true);
    // Grow through SETSTAT on the path of the open handle: zeros after the bytes.
    const g = await open('/shrink-r+.bin', 'r+');
    await write(g, Buffer.from('HEAD'), 0);
    await expect(
      p((cb) => sftp.setstat('/shrink-r+.bin', { size: fresh.length + 10 }, cb)),
    ).resolves.toBeUndefined();
    await close(g);
    const want = Buffer.concat([fresh, Buffer.alloc(10)]);
    want.write('HEAD', 0);
    expect((await readFile('/shrink-r+.bin')).equals(want)).toBe(true);
    expect(await s3.multipartUploads()).toBe(0);
  });

  it('parallel pipelined writes: three 24 MiB fastPuts at once, each with 16 requests in flight', async () => {
    const files = [0, 1, 2].map((i) => {
      const body = randomBytes(24 * MiB);
      const path = join(local, `par${i}.bin`);
      writeFileSync(path, body);
      return { path, name: `/par/p${i}.bin`, sum: createHash('sha256').update(body).digest('hex') };
    });
    await p((cb) => sftp.mkdir('/par', cb));
    await Promise.all(
      files.map((f) =>
        p((cb) => sftp.fastPut(f.path, f.name, { concurrency: 16, chunkSize: 255 * 1024 }, cb)),
      ),
    );
    for (const f of files) {
      const back = join(local, `${f.name.split('/').pop()}.back`);
      await p((cb) => sftp.fastGet(f.name, back, { concurrency: 16, chunkSize: 255 * 1024 }, cb));
      expect(createHash('sha256').update(readFileSync(back)).digest('hex')).toBe(f.sum);
    }
    expect(await s3.multipartUploads()).toBe(0);
  });

  it('concurrent READDIR on two big folders: every entry once, . and .. first, no mixing', async () => {
    const put = (key: string) =>
      s3.client.send(
        new PutObjectCommand({ Bucket: server.conn.bucket, Key: s3.key('alice', key), Body: 'x' }),
      );
    const names = Array.from({ length: 600 }, (_, i) => `f${String(i).padStart(4, '0')}`);
    for (let i = 0; i < names.length; i += 50) {
      await Promise.all(names.slice(i, i + 50).flatMap((n) => [put(`big1/${n}`), put(`big2/${n}.b`)]));
    }
    const [one, two] = await Promise.all([readdir('/big1'), readdir('/big2')]);
    // ssh2's readdir drops . and ..; their presence is checked with OpenSSH `ls -la` in sftp-basics.
    expect(one.map((e) => e.filename).sort()).toEqual(names);
    expect(two.map((e) => e.filename).sort()).toEqual(names.map((n) => `${n}.b`));
    expect(one[0]?.longname).toMatch(/^-rw-r--r-- +1 alice +alice +1 /);
  });

  it("WinSCP's pattern: upload name.filepart, SETSTAT mtime, then rename over the final name", async () => {
    const when = new Date('2022-06-01T12:00:00Z');
    await p((cb) => sftp.writeFile('/report.pdf', 'old version', cb));
    const h = await open('/report.pdf.filepart', 'w');
    await write(h, Buffer.from('new version'), 0);
    await close(h);
    await p((cb) => sftp.setstat('/report.pdf.filepart', { mtime: when, atime: when }, cb));
    // WinSCP without posix-rename: RENAME fails on an existing target, so REMOVE then RENAME.
    await expect(p((cb) => sftp.rename('/report.pdf.filepart', '/report.pdf', cb))).rejects.toThrow(
      /already exists/,
    );
    await p((cb) => sftp.unlink('/report.pdf', cb));
    await p((cb) => sftp.rename('/report.pdf.filepart', '/report.pdf', cb));
    expect((await readFile('/report.pdf')).toString()).toBe('new version');
    expect((await stat('/report.pdf')).mtime).toBe(when.getTime() / 1000);
    // With posix-rename (WinSCP's choice when offered): one step, replacing.
    await p((cb) => sftp.writeFile('/report.pdf.filepart', 'third', cb));
    await p((cb) => sftp.ext_openssh_rename('/report.pdf.filepart', '/report.pdf', cb));
    expect((await readFile('/report.pdf')).toString()).toBe('third');
    expect(await s3.keys('alice')).not.toContain('report.pdf.filepart');
  });

  it('FSETSTAT mtime before CLOSE goes with the upload; fsync succeeds; statvfs answers', async () => {
    const when = new Date('2020-02-02T02:02:02Z');
    const h = await open('/timed.txt', 'w');
    await write(h, Buffer.from('timed'), 0);
    await p((cb) => sftp.fsetstat(h, { mtime: when, atime: when }, cb));
    await p((cb) => sftp.ext_openssh_fsync(h, cb));
    expect(await s3.keys('alice')).not.toContain('timed.txt'); // nothing visible before CLOSE
    await close(h);
    expect((await stat('/timed.txt')).mtime).toBe(when.getTime() / 1000);
    const vfs = await p<{ f_bsize: number; f_bavail: number }>((cb) => sftp.ext_openssh_statvfs('/', cb));
    expect(vfs.f_bsize).toBe(4096);
    expect(vfs.f_bavail).toBeGreaterThan(0);
  });

  it('copy-data of a whole file is a server-side copy; a partial range is refused', async () => {
    const body = randomBytes(2 * MiB);
    await p((cb) => sftp.writeFile('/src.bin', body, cb));
    const src = await open('/src.bin', 'r');
    const dst = await open('/dst.bin', 'w');
    await p((cb) => sftp.ext_copy_data(src, 0, 0, dst, 0, cb));
    await close(dst);
    const dst2 = await open('/dst2.bin', 'w');
    await expect(p((cb) => sftp.ext_copy_data(src, 10, 100, dst2, 0, cb))).rejects.toMatchObject({ code: 8 });
    await close(dst2);
    await close(src);
    expect((await readFile('/dst.bin')).equals(body)).toBe(true);
  });

  it('a client that goes away mid-upload leaves no object and no multipart upload', async () => {
    const other = await sftpClient(server, server.user);
    const h = await p<Buffer>((cb) => other.sftp.open('/shrink-r+.bin', 'w', cb));
    const chunk = randomBytes(255 * 1024);
    for (let at = 0; at < 24 * MiB; at += chunk.length)
      await p((cb) => other.sftp.write(h, chunk, 0, chunk.length, at, cb));
    expect(await s3.multipartUploads()).toBeGreaterThan(0); // the upload was under way in parts
    other.client.destroy();
    await waitFor(() => false, 500);
    expect(await s3.multipartUploadsSettled()).toBe(0);
    expect(await s3.keys('alice')).not.toContain('cut.bin');
  });
});
