import { HeadObjectCommand } from '@aws-sdk/client-s3';
import type { Client, ClientChannel, Stats } from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  connectSsh,
  HomeInS3,
  p,
  type SftpTestServer,
  sftpClient,
  startSftpServer,
  waitFor,
} from '../support/sftp.js';

/**
 * Review of issue 9: the legacy SCP sink/source (`scp -t` / `scp -f`) driven byte by byte by a
 * client that lies (sizes, names, times) or stops mid-way, on the real `ferry serve` on RGW.
 */
let server: SftpTestServer;
let s3: HomeInS3;
let client: Client;
beforeAll(async () => {
  server = await startSftpServer();
  s3 = new HomeInS3(server);
  const c = await connectSsh({
    host: server.host,
    port: server.port,
    username: server.user.username,
    password: server.user.password,
  });
  if (!('client' in c)) throw new Error(c.error);
  client = c.client;
}, 180_000);
afterAll(async () => {
  client?.end();
  s3?.client.destroy();
  await server?.close();
});

/** One raw `exec` channel: what the server sent (stdout, stderr) and its exit code. */
class Raw {
  out = Buffer.alloc(0);
  err = '';
  code: number | undefined;
  private readonly closed: Promise<void>;
  constructor(readonly ch: ClientChannel) {
    ch.on('data', (d: Buffer) => {
      this.out = Buffer.concat([this.out, d]);
    });
    ch.stderr.on('data', (d: Buffer) => {
      this.err += d.toString();
    });
    ch.on('exit', (code: number) => {
      this.code = code;
    });
    this.closed = new Promise((resolve) => ch.on('close', () => resolve()));
  }
  /** Wait until the server sent at least `n` bytes in all (or the channel closed). */
  async until(n: number): Promise<Buffer> {
    while (this.out.length < n) {
      if (
        await Promise.race([this.closed.then(() => true), new Promise((r) => setTimeout(() => r(false), 20))])
      )
        break;
    }
    return this.out;
  }
  send(data: string | Buffer): void {
    this.ch.write(data);
  }
  async done(): Promise<number | undefined> {
    await this.closed;
    return this.code;
  }
}

function exec(command: string): Promise<Raw> {
  return new Promise((resolve, reject) =>
    client.exec(command, (err, ch) => (err ? reject(err) : resolve(new Raw(ch)))),
  );
}

describe('scp -t: a client that lies (review)', () => {
  it('a T record whose time no date can hold: the times are ignored (as OpenSSH does), the file is stored with a real mtime', async () => {
    const r = await exec('scp -p -t /t-range.txt');
    await r.until(1);
    r.send('T999999999999999 0 999999999999999 0\n');
    await r.until(2);
    r.send('C0644 3 t-range.txt\n');
    await r.until(3);
    r.send('abc\0');
    await r.until(4);
    r.ch.end();
    expect(await r.done()).toBe(0);
    expect(r.out).toEqual(Buffer.alloc(4));
    const head = await s3.client.send(
      new HeadObjectCommand({ Bucket: server.conn.bucket, Key: s3.key('alice', 't-range.txt') }),
    );
    expect(head.ContentLength).toBe(3);
    // Not `NaN`: no client time kept, the object's own time stands.
    expect(head.Metadata?.mtime).toBeUndefined();
    const { sftp, end } = await sftpClient(server, server.user);
    try {
      const st = await p<Stats>((cb) => sftp.stat('/t-range.txt', cb));
      expect(Math.abs(st.mtime * 1000 - Date.now())).toBeLessThan(3600_000);
    } finally {
      end();
    }
  }, 60_000);

  it('a client that stops mid-file (C says 40 MiB, 20 MiB sent): no object, no multipart upload left', async () => {
    const r = await exec('scp -t /stopped.bin');
    await r.until(1);
    r.send(`C0644 ${40 * 1024 * 1024} stopped.bin\n`);
    await r.until(2);
    for (let i = 0; i < 20; i++) r.send(Buffer.alloc(1024 * 1024, i));
    // Let the first parts reach S3 (a multipart upload exists), then vanish.
    await waitFor(() => false, 3000);
    const during = await s3.multipartUploads();
    r.ch.close();
    await r.done();
    await waitFor(() => false, 1000);
    expect(during).toBe(1);
    expect(await s3.keys('alice')).not.toContain('stopped.bin');
    expect(await s3.multipartUploads()).toBe(0);
  }, 60_000);

  it('a C record with a size past what a number holds exactly is a protocol error', async () => {
    const r = await exec('scp -t /huge.txt');
    await r.until(1);
    r.send('C0644 9999999999999999 huge.txt\n');
    expect(await r.done()).toBe(1);
    expect(r.out.toString()).toContain('protocol error: size out of range');
    expect(await s3.keys('alice')).not.toContain('huge.txt');
  }, 60_000);

  it('names with /, .., NUL or empty are refused; nothing is written outside the target', async () => {
    for (const [name, says] of [
      ['../up.txt', 'unexpected filename'],
      ['a/b.txt', 'unexpected filename'],
      ['..', 'unexpected filename'],
      ['a\0b', 'control character'],
      ['', 'unexpected filename'],
    ] as const) {
      const r = await exec('scp -t /');
      await r.until(1);
      r.send(`C0644 1 ${name}\n`);
      await r.until(2);
      r.ch.end();
      await r.done();
      expect(r.out.toString()).toContain(says);
    }
    expect(await s3.keys('alice')).toEqual(expect.not.arrayContaining(['up.txt', 'a/b.txt', 'b.txt']));
  }, 60_000);
});

describe('exec: shell syntax the server does not run (review)', () => {
  it('a command line with shell operators is refused with a message, and nothing of it runs', async () => {
    // Seed a file to hash: were any part run, its hash would be printed.
    const seed = await exec('scp -t /seed.txt');
    await seed.until(1);
    seed.send('C0644 4 seed.txt\n');
    await seed.until(2);
    seed.send('seed\0');
    await seed.until(3);
    seed.ch.end();
    expect(await seed.done()).toBe(0);
    for (const line of [
      'md5sum /seed.txt; rm /seed.txt',
      'md5sum /seed.txt && id',
      'md5sum /seed.txt | sh',
      'md5sum /seed.txt > /out',
      'md5sum $(echo /seed.txt)',
      'md5sum `echo /seed.txt`',
      'md5sum "$(echo /seed.txt)"',
      'md5sum /seed.txt\nrm /seed.txt',
      'scp -f /seed.txt; id',
    ]) {
      const r = await exec(line);
      r.ch.end();
      const code = await r.done();
      expect(code, line).toBe(2);
      expect(r.out.toString(), line).toBe('');
      expect(r.err, line).toMatch(/no shell here/);
    }
    // Quoted, the same characters are names.
    const quoted = await exec(`md5sum '/seed;x.txt' "/a|b" /seed.txt`);
    quoted.ch.end();
    expect(await quoted.done()).toBe(1);
    expect(quoted.out.toString()).toBe('fe4c0f30aa359c41d9f9a5f69c8c4192  /seed.txt\n');
    expect(quoted.err).toContain('/seed;x.txt');
  }, 60_000);
});
