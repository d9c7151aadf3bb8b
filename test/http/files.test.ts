import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { ListMultipartUploadsCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createS3Client } from '../../src/s3/client.js';
import { startServer, system, type TestServer } from './support.js';

/**
 * The file API driven with curl, as a script would, on a home on RGW: a 20 MB streamed upload and
 * Range downloads, escapes out of the home refused, an upload cut off mid-way leaving nothing
 * (no object, no unfinished multipart upload), quota and read-only refusals.
 */
const run = promisify(execFile);
let s: TestServer;
let s3: S3Client;
const dir = mkdtempSync(join(tmpdir(), 'ferry-http-files-'));
const ALICE = 'alice:alice-password-1';
const BOB = 'bob:bob-password-22';

async function curl(
  ...args: string[]
): Promise<{ status: number; body: Buffer; headers: string; exit: number; stderr: string }> {
  const headersFile = join(dir, `h-${randomBytes(4).toString('hex')}`);
  let stdout: Buffer;
  let exit = 0;
  let stderr = '';
  try {
    ({ stdout } = await run('curl', ['-sS', '--path-as-is', '-D', headersFile, ...args], {
      encoding: 'buffer',
      maxBuffer: 1 << 27,
    }));
  } catch (err) {
    // curl fails when the server answers before it sent the whole body (an early 507): what it
    // received is still there, as a script would see it.
    const e = err as { code?: number; stdout?: Buffer; stderr?: Buffer };
    if (typeof e.code !== 'number' || !existsSync(headersFile)) throw err;
    exit = e.code;
    stdout = e.stdout ?? Buffer.alloc(0);
    stderr = String(e.stderr ?? '');
  }
  const headers = readFileSync(headersFile, 'utf8');
  const status = Number(/HTTP\/[\d.]+ (\d+)(?![\s\S]*HTTP\/[\d.]+ \d+)/.exec(headers)?.[1]);
  return { status, body: stdout, headers, exit, stderr };
}
const url = (path: string) => `${s.base}/api/v1/user/files${path}`;

/** Every key under the connection's prefix. */
async function keys(): Promise<string[]> {
  const out = await s3.send(new ListObjectsV2Command({ Bucket: s.conn.bucket, Prefix: `${s.conn.prefix}/` }));
  return (out.Contents ?? []).map((o) => (o.Key as string).slice(s.conn.prefix.length + 1));
}
async function unfinishedUploads(): Promise<string[]> {
  const out = await s3.send(
    new ListMultipartUploadsCommand({ Bucket: s.conn.bucket, Prefix: `${s.conn.prefix}/` }),
  );
  return (out.Uploads ?? []).map((u) => u.Key as string);
}

beforeAll(async () => {
  s = await startServer();
  s3 = createS3Client(s.conn);
  await s.accounts.users.create({ username: 'alice', password: 'alice-password-1' }, system);
  await s.accounts.users.create({ username: 'bob', password: 'bob-password-22' }, system);
  await s.accounts.mounts.create(
    { owner: { user: 'bob' }, path: '/shared', target: { type: 's3', connection: 'main', prefix: 'shared' } },
    system,
  );
});
afterAll(async () => {
  s3?.destroy();
  await s?.close();
});

describe('file API with curl on RGW', () => {
  const big = randomBytes(20 * 1024 * 1024);
  const bigFile = join(dir, 'big.bin');
  writeFileSync(bigFile, big);

  test('20 MB upload streamed (curl -T), whole and ranged downloads', async () => {
    const up = await curl('-u', ALICE, '-T', bigFile, url('/content?path=/data/big.bin'));
    expect(up.status).toBe(201);
    expect(JSON.parse(up.body.toString())).toMatchObject({ path: '/data/big.bin', size: big.length });
    expect(await keys()).toContain('homes/alice/data/big.bin');

    const down = await curl('-u', ALICE, url('/content?path=/data/big.bin'));
    expect(down.status).toBe(200);
    expect(createHash('sha256').update(down.body).digest('hex')).toBe(
      createHash('sha256').update(big).digest('hex'),
    );

    const mid = await curl('-u', ALICE, '-r', '10000000-10999999', url('/content?path=/data/big.bin'));
    expect(mid.status).toBe(206);
    expect(mid.headers).toMatch(/content-range: bytes 10000000-10999999\/20971520/i);
    expect(mid.body.equals(big.subarray(10_000_000, 11_000_000))).toBe(true);
    const tail = await curl('-u', ALICE, '-r', '-500', url('/content?path=/data/big.bin'));
    expect(tail.status).toBe(206);
    expect(tail.body.equals(big.subarray(big.length - 500))).toBe(true);
    const past = await curl('-u', ALICE, '-r', `${big.length}-`, url('/content?path=/data/big.bin'));
    expect(past.status).toBe(416);
    expect(past.headers).toMatch(/content-range: bytes \*\/20971520/i);
  });

  test('a chunked upload (no Content-Length) from stdin', async () => {
    const body = randomBytes(3 * 1024 * 1024);
    const src = join(dir, 'chunked.bin');
    writeFileSync(src, body);
    const up = await curl(
      '-u',
      ALICE,
      '-H',
      'Transfer-Encoding: chunked',
      '--data-binary',
      `@${src}`,
      '-X',
      'PUT',
      url('/content?path=/chunked.bin'),
    );
    expect(up.status).toBe(201);
    expect(JSON.parse(up.body.toString()).size).toBe(body.length);
    const down = await curl('-u', ALICE, url('/content?path=/chunked.bin'));
    expect(down.body.equals(body)).toBe(true);
  });

  test('.., %2e%2e and absolute paths stay inside the home; a mount the user lacks does not exist for them', async () => {
    const secret = Buffer.from('bob only');
    const src = join(dir, 'secret.txt');
    writeFileSync(src, secret);
    expect((await curl('-u', BOB, '-T', src, url('/content?path=/secret.txt'))).status).toBe(201);
    expect((await curl('-u', BOB, '-T', src, url('/content?path=/shared/team.txt'))).status).toBe(201);

    for (const path of [
      '/../bob/secret.txt',
      '/%2e%2e/bob/secret.txt',
      '../../homes/bob/secret.txt',
      '/%2E%2E/%2e%2e/homes/bob/secret.txt',
      '/shared/team.txt',
    ]) {
      const r = await curl('-u', ALICE, url(`/content?path=${path}`));
      expect(r.status, path).toBe(404);
      expect(r.body.toString()).not.toContain('bob only');
      // The error names the path inside the user's tree, never a bucket or key prefix.
      expect(r.body.toString()).not.toContain(s.conn.bucket);
      expect(r.body.toString()).not.toContain(s.conn.prefix);
    }
    // A listing of "/.." is the home itself.
    const up = await curl('-u', ALICE, url('?path=/..'));
    expect(up.status).toBe(200);
    const names = JSON.parse(up.body.toString()).entries.map((e: { name: string }) => e.name);
    expect(names).not.toContain('bob');
    expect(names).not.toContain('shared');
    expect(names).toContain('data');

    // An upload aimed above the home lands inside it.
    const esc = await curl('-u', ALICE, '-T', src, url('/content?path=/../../../escape.txt'));
    expect(esc.status).toBe(201);
    expect(JSON.parse(esc.body.toString()).path).toBe('/escape.txt');
    const all = await keys();
    expect(all).toContain('homes/alice/escape.txt');
    expect(all.filter((k) => k.endsWith('escape.txt'))).toEqual(['homes/alice/escape.txt']);
    expect((await curl('-u', ALICE, '-T', src, url('/content?path=/shared/x.txt'))).status).toBe(201);
    expect(await keys()).toContain('homes/alice/shared/x.txt');
    expect(await keys()).not.toContain('shared/x.txt');
    // Bob sees his mount.
    const bobList = await curl('-u', BOB, url('?path=/shared'));
    expect(JSON.parse(bobList.body.toString()).entries.map((e: { name: string }) => e.name)).toEqual([
      'team.txt',
    ]);
    // Control characters are refused.
    expect((await curl('-u', ALICE, url('/content?path=/a%00b'))).status).toBe(400);
  });

  test('an upload cut off mid-way leaves no object and no unfinished multipart upload', async () => {
    const size = 40 * 1024 * 1024;
    const u = new URL(url('/content?path=/cut.bin'));
    const req = http.request({
      host: u.hostname,
      port: u.port,
      path: `${u.pathname}${u.search}`,
      method: 'PUT',
      headers: {
        authorization: `Basic ${Buffer.from(ALICE).toString('base64')}`,
        'content-length': String(size),
      },
    });
    req.on('error', () => {});
    const chunk = randomBytes(1024 * 1024);
    for (let i = 0; i < 20; i++) if (!req.write(chunk)) await new Promise((r) => req.once('drain', r));
    // Wait until the server is in the middle of a multipart upload, then hang up.
    for (let i = 0; i < 200 && !(await unfinishedUploads()).some((k) => k.endsWith('cut.bin')); i++)
      await sleep(50);
    expect((await unfinishedUploads()).some((k) => k.endsWith('cut.bin'))).toBe(true);
    req.destroy();
    for (let i = 0; i < 200 && (await unfinishedUploads()).length > 0; i++) await sleep(50);
    expect(await unfinishedUploads()).toEqual([]);
    expect((await keys()).filter((k) => k.includes('cut.bin'))).toEqual([]);
    expect((await curl('-u', ALICE, url('/stat?path=/cut.bin'))).status).toBe(404);
  });

  test('a client that stalls mid-upload is cut off after the idle time; nothing is stored', async () => {
    // A server of its own with a short idle time (the shared one keeps the default: a loaded
    // machine may pause a healthy transfer for a few seconds).
    const quick = await startServer({ idleTimeoutMs: 1500 });
    await quick.accounts.users.create({ username: 'alice', password: 'alice-password-1' }, system);
    const q3 = createS3Client(quick.conn);
    const uploadsOf = async () =>
      (
        await q3.send(
          new ListMultipartUploadsCommand({ Bucket: quick.conn.bucket, Prefix: `${quick.conn.prefix}/` }),
        )
      ).Uploads ?? [];
    const u = new URL(`${quick.base}/api/v1/user/files/content?path=/stalled.bin`);
    const req = http.request({
      host: u.hostname,
      port: u.port,
      path: `${u.pathname}${u.search}`,
      method: 'PUT',
      headers: { authorization: `Basic ${Buffer.from(ALICE).toString('base64')}`, 'content-length': '100' },
    });
    const closed = new Promise<void>((resolve) => req.on('close', () => resolve()));
    req.on('error', () => {});
    // 10 of the 100 bytes announced, then nothing: the server closes the connection after its
    // idle time.
    req.write(Buffer.alloc(10));
    await closed;
    for (let i = 0; i < 100 && (await uploadsOf()).length > 0; i++) await sleep(50);
    expect(await uploadsOf()).toEqual([]);
    const stat = await curl('-u', ALICE, `${quick.base}/api/v1/user/files/stat?path=/stalled.bin`);
    expect(stat.status).toBe(404);
    const listed = await q3.send(
      new ListObjectsV2Command({ Bucket: quick.conn.bucket, Prefix: `${quick.conn.prefix}/` }),
    );
    expect((listed.Contents ?? []).filter((o) => o.Key?.includes('stalled.bin'))).toEqual([]);
    q3.destroy();
    await quick.close();
  });

  test('over quota: 507 and nothing stored; a read-only mount: 403', async () => {
    await s.accounts.users.create(
      { username: 'carl', password: 'carl-password-1', quota: { bytes: 1024 * 1024 } },
      system,
    );
    await s.accounts.mounts.create(
      {
        owner: { user: 'carl' },
        path: '/ro',
        target: { type: 's3', connection: 'main', prefix: 'shared' },
        readOnly: true,
      },
      system,
    );
    const src = join(dir, 'two-mb.bin');
    writeFileSync(src, randomBytes(2 * 1024 * 1024));
    const over = await curl('-u', 'carl:carl-password-1', '-T', src, url('/content?path=/too-big.bin'));
    expect(over.status).toBe(507);
    expect(JSON.parse(over.body.toString()).error.code).toBe('QuotaExceeded');
    expect((await keys()).filter((k) => k.includes('too-big'))).toEqual([]);
    expect(await unfinishedUploads()).toEqual([]);
    const ro = await curl(
      '-u',
      'carl:carl-password-1',
      '-T',
      join(dir, 'secret.txt'),
      url('/content?path=/ro/new.txt'),
    );
    expect(ro.status).toBe(403);
    expect(JSON.parse(ro.body.toString()).error.code).toBe('PermissionDenied');
    expect(
      (await curl('-u', 'carl:carl-password-1', url('/content?path=/ro/team.txt'))).body.toString(),
    ).toBe('bob only');
  });
});
