import type { ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  createReadStream,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  truncateSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exec, HomeInS3, runScp, type SftpTestServer, startSftpServer } from '../support/sftp.js';

/**
 * OpenSSH's `scp` against Ferry on RGW, in both of its modes: the default (SFTP subsystem) and
 * `-O` (the legacy scp -t/-f protocol, src/protocols/sftp/scp*.ts). What reaches S3 is checked
 * with the raw S3 client.
 */

const MiB = 1024 * 1024;

async function fileHash(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Every file below `dir` (relative path → content), folders as `path/`. */
function tree(dir: string, prefix = ''): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of readdirSync(join(dir, prefix), { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) {
      out[`${rel}/`] = '';
      Object.assign(out, tree(dir, rel));
    } else out[rel] = readFileSync(join(dir, rel), 'utf8');
  }
  return out;
}

/** Bytes a process has read so far (/proc/PID/io rchar; 0 once it is gone). */
function readBytes(pid: number): number {
  try {
    return Number(/rchar: (\d+)/.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

async function until(what: string, check: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`gave up waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

let big: string;
let bigHash: string;
let work: string;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'ferry-scp-files-'));
  big = join(work, 'big-100m.bin');
  const chunk = randomBytes(MiB);
  const parts: Buffer[] = [];
  for (let i = 0; i < 100; i++) {
    chunk[0] = i; // every MiB differs: a misplaced part shows
    parts.push(Buffer.from(chunk));
  }
  writeFileSync(big, Buffer.concat(parts));
  bigHash = await fileHash(big);
});

describe.each([
  { mode: 'legacy (-O)', flags: ['-O'] },
  { mode: 'default (SFTP)', flags: [] as string[] },
])('OpenSSH scp, $mode, against Ferry on RGW', ({ flags }) => {
  let server: SftpTestServer;
  let s3: HomeInS3;
  let local: string;
  const scp = (...args: string[]) => runScp(server, [...flags, '-q', ...args]);
  const remote = (path: string) => `alice@127.0.0.1:${path}`;
  const keys = () => s3.keys('alice');
  const head = (path: string) =>
    s3.client.send(new HeadObjectCommand({ Bucket: server.conn.bucket, Key: s3.key('alice', path) }));
  const uploads = () => s3.multipartUploads();

  beforeAll(async () => {
    server = await startSftpServer({
      user: {
        permissions: {
          '/': ['list', 'download', 'upload', 'overwrite', 'delete', 'rename', 'mkdir'],
          '/ro': ['list', 'download'],
          '/wo': ['list', 'upload', 'mkdir'],
        },
      },
    });
    s3 = new HomeInS3(server);
    local = mkdtempSync(join(tmpdir(), 'ferry-scp-local-'));
  });
  afterAll(async () => {
    s3?.client.destroy();
    await server?.close();
  });

  it('uploads a file and downloads it byte for byte', async () => {
    const data = randomBytes(300_000);
    writeFileSync(join(local, 'a.bin'), data);
    const up = await scp(join(local, 'a.bin'), remote('/a.bin'));
    expect(up).toMatchObject({ code: 0, stderr: '' });
    expect((await head('a.bin')).ContentLength).toBe(300_000);
    const down = await scp(remote('/a.bin'), join(local, 'a-back.bin'));
    expect(down).toMatchObject({ code: 0, stderr: '' });
    expect(readFileSync(join(local, 'a-back.bin')).equals(data)).toBe(true);
  });

  it('overwriting a larger file with a smaller one leaves exactly the smaller file', async () => {
    writeFileSync(join(local, 'long.txt'), 'L'.repeat(200_000));
    writeFileSync(join(local, 'short.txt'), 'short and new');
    expect(await scp(join(local, 'long.txt'), remote('/shrink.txt'))).toMatchObject({ code: 0, stderr: '' });
    expect(await scp(join(local, 'short.txt'), remote('/shrink.txt'))).toMatchObject({ code: 0, stderr: '' });
    const got = await s3.client.send(
      new GetObjectCommand({ Bucket: server.conn.bucket, Key: s3.key('alice', 'shrink.txt') }),
    );
    expect(await got.Body?.transformToString()).toBe('short and new');
    expect(await uploads()).toBe(0);
  });

  it('an empty file, a relative path (from /) and a folder as target', async () => {
    writeFileSync(join(local, 'empty.txt'), '');
    expect(await scp(join(local, 'empty.txt'), remote('into-root.txt'))).toMatchObject({ code: 0 });
    expect((await head('into-root.txt')).ContentLength).toBe(0);
    expect(await scp(join(local, 'empty.txt'), remote('/'))).toMatchObject({ code: 0 });
    expect((await head('empty.txt')).ContentLength).toBe(0);
  });

  it('-r: a tree with nested folders and an empty folder, up and down again', async () => {
    const src = join(local, 'tree');
    mkdirSync(join(src, 'sub', 'deeper'), { recursive: true });
    mkdirSync(join(src, 'empty'));
    writeFileSync(join(src, 'top.txt'), 'top');
    writeFileSync(join(src, 'sub', 'mid.txt'), 'mid');
    writeFileSync(join(src, 'sub', 'deeper', 'low.txt'), 'low');
    const up = await scp('-r', src, remote('/'));
    expect(up).toMatchObject({ code: 0, stderr: '' });
    const stored = (await keys()).filter((k) => k.startsWith('tree/'));
    for (const k of ['tree/top.txt', 'tree/sub/mid.txt', 'tree/sub/deeper/low.txt', 'tree/empty/'])
      expect(stored).toContain(k);
    const back = join(local, 'back');
    mkdirSync(back);
    const down = await scp('-r', remote('/tree'), back);
    expect(down).toMatchObject({ code: 0, stderr: '' });
    expect(tree(join(back, 'tree'))).toEqual(tree(src));
  });

  it('-p keeps the mtime: stored as X-Amz-Meta-Mtime, given back by a download with -p', async () => {
    const file = join(local, 'dated.txt');
    writeFileSync(file, 'dated');
    const when = new Date('2001-02-03T04:05:06Z');
    utimesSync(file, when, when);
    expect(await scp('-p', file, remote('/dated.txt'))).toMatchObject({ code: 0, stderr: '' });
    expect((await head('dated.txt')).Metadata?.mtime).toBe(String(when.getTime() / 1000));
    const back = join(local, 'dated-back.txt');
    expect(await scp('-p', remote('/dated.txt'), back)).toMatchObject({ code: 0, stderr: '' });
    expect(statSync(back).mtime.getTime()).toBe(when.getTime());
  });

  it('a file name with spaces, both ways', async () => {
    writeFileSync(join(local, 'my file.txt'), 'spaced');
    expect(await scp(join(local, 'my file.txt'), remote('/'))).toMatchObject({ code: 0, stderr: '' });
    expect(await keys()).toContain('my file.txt');
    const back = join(local, 'spaced-back');
    mkdirSync(back);
    expect(await scp(remote('/my\\ file.txt'), back)).toMatchObject({ code: 0, stderr: '' });
    expect(readFileSync(join(back, 'my file.txt'), 'utf8')).toBe('spaced');
  });

  it('a 100 MB file comes back byte-identical, no multipart upload left', async () => {
    expect(await scp(big, remote('/big.bin'))).toMatchObject({ code: 0, stderr: '' });
    expect((await head('big.bin')).ContentLength).toBe(100 * MiB);
    const back = join(local, 'big-back.bin');
    expect(await scp(remote('/big.bin'), back)).toMatchObject({ code: 0, stderr: '' });
    expect(await fileHash(back)).toBe(bigHash);
    expect(await uploads()).toBe(0);
  });

  it('permission refusals: upload into a read-only folder, download from a write-only one', async () => {
    writeFileSync(join(local, 'p.txt'), 'p');
    const up = await scp(join(local, 'p.txt'), remote('/ro/p.txt'));
    expect(up.code).toBe(1);
    expect(up.stderr).toMatch(/permission denied.*\/ro\/p\.txt|\/ro\/p\.txt.*ermission denied/i);
    expect(up.stderr).not.toMatch(new RegExp(`${server.conn.bucket}|${server.conn.prefix}`));
    expect(await keys()).not.toContain('ro/p.txt');

    expect(await scp(join(local, 'p.txt'), remote('/wo/p.txt'))).toMatchObject({ code: 0 });
    const down = await scp(remote('/wo/p.txt'), join(local, 'p-back.txt'));
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/ermission denied/);
    expect(down.stderr).not.toMatch(new RegExp(`${server.conn.bucket}|${server.conn.prefix}`));
  });

  it('a killed scp mid-upload leaves no object and no multipart upload; an old file stays as it was', async () => {
    writeFileSync(join(local, 'old.txt'), 'old content');
    expect(await scp(join(local, 'old.txt'), remote('/killed.bin'))).toMatchObject({ code: 0 });
    const sparse = join(local, 'sparse-2g.bin');
    writeFileSync(sparse, '');
    truncateSync(sparse, 2048 * MiB); // zeros from a sparse file: cheap to read, slow enough to kill
    for (const target of ['killed.bin', 'killed-new.bin']) {
      let child: ChildProcess | undefined;
      const done = runScp(server, [...flags, '-q', sparse, remote(`/${target}`)], {
        started: (c) => {
          child = c;
        },
      });
      // scp reads the file itself in both modes: kill it once 200 MiB went out.
      await until('200 MiB read by scp', async () => readBytes(child!.pid!) > 200 * MiB);
      child!.kill('SIGKILL');
      await done;
      await until('no multipart upload left', async () => (await uploads()) === 0);
    }
    const body = await s3.client.send(
      new GetObjectCommand({ Bucket: server.conn.bucket, Key: s3.key('alice', 'killed.bin') }),
    );
    expect(await body.Body!.transformToString()).toBe('old content');
    expect(await keys()).not.toContain('killed-new.bin');
  });
});

describe('legacy scp only: wildcards, refusals and the hash commands over ssh exec', () => {
  let server: SftpTestServer;
  let local: string;
  const scp = (...args: string[]) => runScp(server, ['-O', '-q', ...args]);
  const ssh = (...command: string[]) => exec('ssh', [...server.sshArgs, server.destination, ...command]);
  const remote = (path: string) => `alice@127.0.0.1:${path}`;
  const md5 = (b: Buffer | string) => createHash('md5').update(b).digest('hex');

  beforeAll(async () => {
    server = await startSftpServer();
    local = mkdtempSync(join(tmpdir(), 'ferry-scp-local-'));
    mkdirSync(join(local, 'g'));
    for (const n of ['a.txt', 'b.txt', 'c.bin', '.hidden.txt']) writeFileSync(join(local, 'g', n), n);
    expect(await scp('-r', join(local, 'g'), remote('/'))).toMatchObject({ code: 0 });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('a wildcard in the last segment is matched on the server (hidden names left out, as a shell does)', async () => {
    const back = join(local, 'glob-back');
    mkdirSync(back);
    expect(await scp(remote('/g/*.txt'), back)).toMatchObject({ code: 0, stderr: '' });
    expect(readdirSync(back).sort()).toEqual(['a.txt', 'b.txt']);
    const none = await scp(remote('/g/*.none'), back);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/no match/);
  });

  it('a folder without -r, a missing file: warnings naming the path, exit 1', async () => {
    const r = await scp(remote('/g'), join(local, 'x'));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/\/g: not a regular file/);
    const m = await scp(remote('/nope.txt'), join(local, 'x'));
    expect(m.code).toBe(1);
    expect(m.stderr).toMatch(/no such file or folder: \/nope\.txt/);
  });

  it('md5sum, sha1sum, sha256sum, sha512sum print what coreutils prints', async () => {
    const a = readFileSync(join(local, 'g', 'a.txt'));
    const r = await ssh('md5sum', 'g/a.txt', '/g/b.txt');
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout).toBe(`${md5(a)}  g/a.txt\n${md5('b.txt')}  /g/b.txt\n`);
    for (const alg of ['sha1', 'sha256', 'sha512']) {
      const h = await ssh(`${alg}sum`, '/g/c.bin');
      expect(h).toMatchObject({ code: 0, stderr: '' });
      expect(h.stdout).toBe(`${createHash(alg).update('c.bin').digest('hex')}  /g/c.bin\n`);
    }
  });

  it('a hash of a missing file or a folder: an error line on stderr, the others still hashed, exit 1', async () => {
    const r = await ssh('sha256sum', '/missing', '/g', '/g/a.txt');
    expect(r.code).toBe(1);
    expect(r.stdout).toBe(`${createHash('sha256').update('a.txt').digest('hex')}  /g/a.txt\n`);
    expect(r.stderr).toMatch(/sha256sum: no such file or folder: \/missing/);
    expect(r.stderr).toMatch(/sha256sum: .*\/g/);
  });

  it('another command or shell syntax is refused', async () => {
    expect((await ssh('md5sum', '/g/a.txt;', 'ls')).code).not.toBe(0);
    expect((await ssh('md5sum')).stderr).toMatch(/standard input/);
  });
});
