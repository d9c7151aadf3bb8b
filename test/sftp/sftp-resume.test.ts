import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  HomeInS3,
  p,
  type SftpTestServer,
  sftpBatch,
  sftpClient,
  spawnSftp,
  startSftpServer,
} from '../support/sftp.js';

const MB = 1000 * 1000;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Poll `check` until it holds (or `ms` pass); the caller asserts afterwards. */
async function until(check: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check()) && Date.now() < end) await new Promise((r) => setTimeout(r, 25));
}

describe('reput / reget of an interrupted 100 MB transfer (OpenSSH sftp on RGW)', () => {
  let server: SftpTestServer;
  let s3: HomeInS3;
  let local: string;
  let body: Buffer;

  beforeAll(async () => {
    server = await startSftpServer();
    s3 = new HomeInS3(server);
    local = mkdtempSync(join(tmpdir(), 'ferry-sftp-resume-'));
    body = randomBytes(100 * MB);
    writeFileSync(join(local, 'big.bin'), body);
  });
  afterAll(async () => {
    await server?.close();
  });

  const run = (commands: string[], extra: string[] = []) =>
    sftpBatch(server, server.user, commands, { cwd: local, extra });

  it('a client that CLOSEd after 60 MB: reput sends the rest, the object is byte-identical', async () => {
    const c = await sftpClient(server, server.user);
    const h = await p<Buffer>((cb) => c.sftp.open('/resumed.bin', 'w', cb));
    const step = 255 * 1024;
    for (let at = 0; at < 60 * MB; at += step) {
      const n = Math.min(step, 60 * MB - at);
      await p((cb) => c.sftp.write(h, body, at, n, at, cb));
    }
    await p((cb) => c.sftp.close(h, cb));
    c.end();
    const first = await run(['ls -l resumed.bin']);
    expect(first.stdout).toMatch(/ 60000000 /);

    const r = await run(['reput big.bin resumed.bin', 'get resumed.bin resumed.back']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const back = readFileSync(join(local, 'resumed.back'));
    expect(back.length).toBe(body.length);
    expect(sha(back)).toBe(sha(body));
    expect(await s3.multipartUploads()).toBe(0);
  });

  it('a killed put leaves no object and no multipart upload (nothing is visible before CLOSE)', async () => {
    // -l: 160 Mbit/s, so the upload is surely under way when it is killed.
    const child = spawnSftp(server, server.user, ['put big.bin killed.bin'], local, ['-l', '160000']);
    await until(async () => (await s3.multipartUploads()) > 0);
    expect(await s3.multipartUploads()).toBeGreaterThan(0);
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    await until(async () => (await s3.multipartUploads()) === 0);
    expect(await s3.multipartUploads()).toBe(0);
    expect(await s3.keys('alice')).not.toContain('killed.bin');
    // Nothing to resume from: OpenSSH's reput needs the partial file and says it is missing.
    const r = await run(['reput big.bin killed.bin']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/not found|No such file/i);
  });

  it('a killed get leaves a partial local file; reget fetches the rest, byte-identical', async () => {
    const put = await run(['put big.bin down.bin']);
    expect(put.code).toBe(0);
    const target = join(local, 'down.part');
    const child = spawnSftp(server, server.user, ['get down.bin down.part'], local, ['-l', '160000']);
    await until(() => existsSync(target) && statSync(target).size > 10 * MB, 60_000);
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const partial = statSync(target).size;
    expect(partial).toBeGreaterThan(0);
    const r = await run(['reget down.bin down.part']);
    expect(r.code).toBe(0);
    const back = readFileSync(target);
    expect(back.length).toBe(body.length);
    expect(sha(back)).toBe(sha(body));
  });
});
