import { mkdtempSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HomeInS3, type SftpTestServer, sftpBatch, startSftpServer } from '../support/sftp.js';

/**
 * OpenSSH `sftp ls -l` against Ferry on RGW, counted in S3 requests (the server's own
 * `ferry_s3_requests_total`): LISTs only — one for the LSTAT of the folder and one per 1,000
 * entries — and no HEAD; folders that are only a prefix, and names other tools made that Ferry
 * would not (a key and a folder of one name, keys beside a folder's name).
 */
describe('SFTP ls -l: S3 requests and folders other tools made', () => {
  let server: SftpTestServer;
  let s3: HomeInS3;
  let work: string;
  const put = (path: string, body = 'x') =>
    s3.client.send(
      new PutObjectCommand({ Bucket: server.conn.bucket, Key: s3.key('alice', path), Body: body }),
    );

  /** S3 requests the server sent so far, by operation (its /metrics). */
  async function s3Requests(): Promise<Record<string, number>> {
    const text = await (await fetch(`${server.httpUrl}/metrics`)).text();
    const out: Record<string, number> = {};
    for (const m of text.matchAll(/^ferry_s3_requests_total\{operation="(\w+)",result="[^"]*"\} (\d+)/gm))
      out[m[1]!] = (out[m[1]!] ?? 0) + Number(m[2]);
    return out;
  }
  const since = (before: Record<string, number>, after: Record<string, number>) =>
    Object.fromEntries(
      Object.entries(after)
        .map(([op, n]) => [op, n - (before[op] ?? 0)] as const)
        .filter(([, n]) => n > 0),
    );

  beforeAll(async () => {
    server = await startSftpServer();
    s3 = new HomeInS3(server);
    work = mkdtempSync(join(tmpdir(), 'ferry-sftp-ls-'));
  });
  afterAll(async () => {
    await server?.close();
    s3?.client.destroy();
  });

  it('ls -l of 1,200 files: LISTs only (the LSTAT, then one per 1,000), client mtimes shown, no HEAD', async () => {
    const names = Array.from({ length: 1199 }, (_, i) => `f-${String(i).padStart(4, '0')}`);
    for (let i = 0; i < names.length; i += 50)
      await Promise.all(names.slice(i, i + 50).map((n) => put(`many/${n}`)));
    const stamped = join(work, 'stamped.txt');
    writeFileSync(stamped, 'stamped\n');
    utimesSync(stamped, new Date('2001-02-03T04:05:06Z'), new Date('2001-02-03T04:05:06Z'));
    const up = await sftpBatch(server, server.user, [`put -p ${stamped} /many/stamped.txt`]);
    expect(up.stderr).toBe('');

    const before = await s3Requests();
    const ls = await sftpBatch(server, server.user, ['ls -l /many']);
    const used = since(before, await s3Requests());
    expect(ls.stderr).toBe('');
    expect(ls.code).toBe(0);
    const lines = ls.stdout.split('\n').filter((l) => l.startsWith('-rw-r--r--'));
    expect(lines).toHaveLength(1200);
    expect(lines.find((l) => l.endsWith(' stamped.txt'))).toMatch(/ 8 Feb {2}3 {2}2001 stamped\.txt$/);
    expect(lines.filter((l) => / 1 \w{3} [ \d]\d \d\d:\d\d f-\d{4}$/.test(l))).toHaveLength(1199);
    expect(used).toEqual({ ListObjectsV2: 3 });
  });

  it('cd into and ls of a folder that is only a prefix (no marker): one LIST per stat, no HEAD', async () => {
    await put('prefix-only/sub/deep.txt', 'deep');
    await put('prefix-only/top.txt', 'top');
    const before = await s3Requests();
    const r = await sftpBatch(server, server.user, ['cd /prefix-only', 'ls -l', 'cd sub', 'ls -l', 'pwd']);
    const used = since(before, await s3Requests());
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^drwxr-xr-x .* sub$/m);
    expect(r.stdout).toMatch(/^-rw-r--r-- .* 3 .* top\.txt$/m);
    expect(r.stdout).toMatch(/^-rw-r--r-- .* 4 .* deep\.txt$/m);
    expect(r.stdout).toContain('Remote working directory: /prefix-only/sub');
    expect(used.HeadObject ?? 0).toBe(0);
  });

  it('a key and a folder of one name (made by another tool): both listed, the file wins for stat and get, the folder is reachable below', async () => {
    await put('pair/both', 'the file');
    await put('pair/both/inner.txt', 'inner');
    const r = await sftpBatch(
      server,
      server.user,
      [
        'ls -l /pair',
        'get /pair/both got-both',
        'get /pair/both/inner.txt got-inner',
        '-cd /pair/both',
        'ls -l /pair/both/inner.txt',
      ],
      { cwd: work },
    );
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^-rw-r--r-- .* 8 .* both$/m);
    expect(r.stdout).toMatch(/^drwxr-xr-x .* both$/m);
    expect(readFileSync(join(work, 'got-both'), 'utf8')).toBe('the file');
    expect(readFileSync(join(work, 'got-inner'), 'utf8')).toBe('inner');
    expect(r.stderr).toMatch(/Can't change directory: "\/pair\/both" is not a directory/);
    expect(r.stdout).toMatch(/^-rw-r--r-- .* 5 .* \/pair\/both\/inner\.txt$/m);
  });

  it('a folder whose name has keys beside it (`d.txt`, `d-old/…` sort before `d/`) lists; the file beside it stats as a file', async () => {
    await put('side/d.txt', 'beside');
    await put('side/d-old/x', 'old');
    await put('side/d/in.txt', 'in');
    const r = await sftpBatch(server, server.user, ['ls -l /side/d', 'ls -l /side/d.txt']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^-rw-r--r-- .* 2 .* in\.txt$/m);
    expect(r.stdout).toMatch(/^-rw-r--r-- .* 6 .* \/side\/d\.txt$/m);
  });
});
