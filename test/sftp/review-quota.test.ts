import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { OpenMode, SFTPWrapper } from 'ssh2';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { HomeInS3, p, runScp, type SftpTestServer, sftpClient, startSftpServer } from '../support/sftp.js';

/**
 * Review of issue 9: a user's quota (bytes, files) cannot be got around through the SFTP and SCP
 * paths that do not look like plain uploads: update and append opens, a growing SETSTAT size,
 * copy-data, posix-rename onto an existing file, and `scp -t`.
 */
let server: SftpTestServer;
let s3: HomeInS3;
let sftp: SFTPWrapper;
let end: () => void;
const QUOTA = 1000;

beforeAll(async () => {
  server = await startSftpServer({ user: { quota: { bytes: QUOTA, files: 3 } } });
  s3 = new HomeInS3(server);
  ({ sftp, end } = await sftpClient(server, server.user));
}, 180_000);
afterAll(async () => {
  end?.();
  s3?.client.destroy();
  await server?.close();
});

const usage = () => server.server.sessions.ledger.usage('alice');

async function put(path: string, size: number, flags: OpenMode = 'w'): Promise<void> {
  const h = await p<Buffer>((cb) => sftp.open(path, flags, cb));
  try {
    if (size > 0) await p((cb) => sftp.write(h, Buffer.alloc(size, 7), 0, size, 0, cb));
  } catch (err) {
    // The WRITE's refusal is the one that says why (CLOSE then says the handle is closed).
    await p((cb) => sftp.close(h, cb)).catch(() => {});
    throw err;
  }
  await p((cb) => sftp.close(h, cb));
}

async function sizeOf(path: string): Promise<number | undefined> {
  try {
    return (await p<{ size: number }>((cb) => sftp.stat(path, cb))).size;
  } catch {
    return undefined;
  }
}

beforeEach(async () => {
  for (const name of await s3.keys('alice')) await p((cb) => sftp.unlink(`/${name}`, cb)).catch(() => {});
  await put('/a.txt', 600);
  expect(await usage()).toEqual({ bytes: 600, files: 1 });
});

describe('quota through SFTP and SCP (review)', () => {
  it('an update open (r+) writing past the end cannot grow the file past the quota', async () => {
    const h = await p<Buffer>((cb) => sftp.open('/a.txt', 'r+', cb));
    const wrote = p((cb) => sftp.write(h, Buffer.alloc(1000, 1), 0, 1000, 600, cb));
    const closed = wrote.then(() => p((cb) => sftp.close(h, cb)));
    await expect(closed).rejects.toThrow(/quota/);
    expect(await sizeOf('/a.txt')).toBe(600);
    expect(await usage()).toEqual({ bytes: 600, files: 1 });
  }, 60_000);

  it('an append open cannot either', async () => {
    const h = await p<Buffer>((cb) => sftp.open('/a.txt', 'a', cb));
    const closed = p((cb) => sftp.write(h, Buffer.alloc(1000, 1), 0, 1000, 0, cb)).then(() =>
      p((cb) => sftp.close(h, cb)),
    );
    await expect(closed).rejects.toThrow(/quota/);
    expect(await sizeOf('/a.txt')).toBe(600);
  }, 60_000);

  it('a growing SETSTAT size on an update handle cannot either', async () => {
    const h = await p<Buffer>((cb) => sftp.open('/a.txt', 'r+', cb));
    const grown = p((cb) => sftp.fsetstat(h, { size: 100_000 }, cb)).then(() => p((cb) => sftp.close(h, cb)));
    await expect(grown).rejects.toThrow(/quota/);
    await p((cb) => sftp.close(h, cb)).catch(() => {});
    expect(await sizeOf('/a.txt')).toBe(600);
  }, 60_000);

  it('copy-data cannot copy past the quota; no copy is left', async () => {
    const src = await p<Buffer>((cb) => sftp.open('/a.txt', 'r', cb));
    const dst = await p<Buffer>((cb) => sftp.open('/b.txt', 'w', cb));
    await expect(p((cb) => sftp.ext_copy_data(src, 0, 0, dst, 0, cb))).rejects.toThrow(/quota/);
    await p((cb) => sftp.close(src, cb));
    await p((cb) => sftp.close(dst, cb)).catch(() => {});
    expect(await sizeOf('/b.txt')).toBeUndefined();
    expect(await usage()).toEqual({ bytes: 600, files: 1 });
  }, 60_000);

  it('posix-rename onto an existing file frees the replaced bytes and file (no double count, no free space)', async () => {
    await put('/c.txt', 300);
    await p((cb) => sftp.ext_openssh_rename('/c.txt', '/a.txt', cb));
    expect(await usage()).toEqual({ bytes: 300, files: 1 });
    // What the ledger says is really there: 700 more fit, 701 do not.
    await put('/d.txt', 700);
    await expect(put('/e.txt', 1)).rejects.toThrow(/quota/);
  }, 60_000);

  it('the file count holds too (rename does not mint files)', async () => {
    await put('/f1.txt', 1);
    await put('/f2.txt', 1);
    await expect(put('/f3.txt', 1)).rejects.toThrow(/quota/);
    await p((cb) => sftp.rename('/f2.txt', '/f3.txt', cb));
    expect(await usage()).toEqual({ bytes: 602, files: 3 });
  }, 60_000);

  it('scp -t: a file past the quota is refused and not stored', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-review-quota-'));
    writeFileSync(join(dir, 'big.bin'), Buffer.alloc(2000, 3));
    const { code } = await runScp(server, ['-O', join(dir, 'big.bin'), `${server.destination}:/big.bin`]);
    expect(code).toBe(1);
    expect(await sizeOf('/big.bin')).toBeUndefined();
    expect(await usage()).toEqual({ bytes: 600, files: 1 });
    expect(await s3.multipartUploads()).toBe(0);
  }, 60_000);
});
