import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import { beforeAll, describe, expect, it } from 'vitest';
import { cliEnv, ferry, requireBuiltCli } from '../support/cli.js';
import { readAll } from '../support/collect.js';
import { TEST_BUCKET, testS3, testS3Storage } from '../support/s3.js';

const NFD = 'Cafe\u0301.jpg';

/** Issue 7, defects 1, 3 and 10: tree copies and moves never lose or silently skip a file. */
describe('ferry mv / cp -r: names, mtimes, devices (built CLI, real S3)', () => {
  let s3: Awaited<ReturnType<typeof testS3Storage>>;
  let base: string;
  let flags: string[];
  const keys = async (prefix: string) =>
    (
      (await s3.client.send(new ListObjectsV2Command({ Bucket: TEST_BUCKET, Prefix: `${prefix}/` })))
        .Contents ?? []
    )
      .map((o) => o.Key!.slice(prefix.length + 1))
      .filter((k) => k !== '')
      .sort();
  const put = (key: string, body: string, meta: Record<string, string> = {}) =>
    s3.client.send(new PutObjectCommand({ Bucket: TEST_BUCKET, Key: key, Body: body, Metadata: meta }));
  const get = async (key: string) =>
    (
      await readAll(
        (
          await s3.client.send(new GetObjectCommand({ Bucket: TEST_BUCKET, Key: key }))
        ).Body as AsyncIterable<Uint8Array>,
      )
    ).toString();

  beforeAll(async () => {
    await requireBuiltCli();
    s3 = await testS3Storage();
    flags = ['--endpoint', testS3().endpoint, '--region', 'us-east-1'];
    base = `s3://${TEST_BUCKET}/${s3.conn.prefix}`;
  });

  it('mv ./photos s3://…/photos carries a file with an NFD name (macOS) instead of losing it', async () => {
    const local = await mkdtemp(join(tmpdir(), 'ferry-mv-nfd-'));
    await mkdir(join(local, 'photos'));
    await writeFile(join(local, 'photos', NFD), 'decomposed bytes');
    await writeFile(join(local, 'photos', 'Caf\u00e9.jpg'), 'composed twin');
    const r = await ferry([...flags, 'mv', join(local, 'photos'), `${base}/photos`], cliEnv());
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(await keys(`${s3.conn.prefix}/photos`)).toEqual(['Caf\u00e9.jpg', NFD].sort());
    expect(await get(`${s3.conn.prefix}/photos/${NFD}`)).toBe('decomposed bytes');
    expect(await get(`${s3.conn.prefix}/photos/Caf\u00e9.jpg`)).toBe('composed twin');
    expect(existsSync(join(local, 'photos'))).toBe(false);
    // Listed under its encoded name, and back again byte-exactly.
    const ls = await ferry([...flags, 'ls', `${base}/photos`], cliEnv());
    expect(ls.stdout.split('\n').sort()).toEqual(['', 'Caf\u00e9.jpg', '\u201bCafe%CC%81.jpg'].sort());
    const back = await ferry([...flags, 'mv', `${base}/photos`, join(local, 'back')], cliEnv());
    expect(back).toMatchObject({ code: 0 });
    expect((await readdir(join(local, 'back'))).sort()).toEqual(['Caf\u00e9.jpg', NFD].sort());
    expect(await readFile(join(local, 'back', NFD), 'utf8')).toBe('decomposed bytes');
    expect(await keys(`${s3.conn.prefix}/photos`)).toEqual([]);
    await rm(local, { recursive: true, force: true });
  });

  it('a local file named in NFD on the command line is that file, not its NFC twin', async () => {
    const local = await mkdtemp(join(tmpdir(), 'ferry-cp-nfd-'));
    await writeFile(join(local, NFD), 'decomposed bytes');
    await writeFile(join(local, 'Caf\u00e9.jpg'), 'composed twin');
    const r = await ferry([...flags, 'cp', join(local, NFD), `${base}/single/`], cliEnv());
    expect(r).toMatchObject({ code: 0 });
    expect(await keys(`${s3.conn.prefix}/single`)).toEqual([NFD]);
    expect(await get(`${s3.conn.prefix}/single/${NFD}`)).toBe('decomposed bytes');
    const nfc = await ferry([...flags, 'cp', join(local, 'Caf\u00e9.jpg'), `${base}/single/`], cliEnv());
    expect(nfc).toMatchObject({ code: 0 });
    expect(await get(`${s3.conn.prefix}/single/Caf\u00e9.jpg`)).toBe('composed twin');
    await rm(local, { recursive: true, force: true });
  });

  it('mv s3://…/d ./d with a key no local name can hold fails naming it, and deletes only what it copied', async () => {
    const local = await mkdtemp(join(tmpdir(), 'ferry-mv-odd-'));
    const p = `${s3.conn.prefix}/odd`;
    await put(`${p}/ok.txt`, 'fine');
    await put(`${p}/a//b`, 'empty segment');
    const controls = testS3().supports.controlCharPrefixes; // Swift's listings break on them
    if (controls) await put(`${p}/bell\u0007.txt`, 'control char');
    const r = await ferry([...flags, 'mv', `${base}/odd`, join(local, 'odd')], cliEnv());
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('a/\u201b/b');
    // The key that could not be carried is still there; nothing else was lost either.
    expect(await get(`${p}/a//b`)).toBe('empty segment');
    for (const key of controls ? ['ok.txt', 'bell\u0007.txt'] : ['ok.txt']) {
      const inS3 = (await keys(p)).includes(key);
      const onDisk = existsSync(join(local, 'odd', key));
      expect(inS3 || onDisk, key).toBe(true);
      if (!inS3) expect(await readFile(join(local, 'odd', key), 'utf8')).not.toBe('');
    }
    // cp -r reports the same instead of succeeding while skipping it.
    const cp = await ferry([...flags, 'cp', '-r', `${base}/odd`, join(local, 'copy')], cliEnv());
    expect(cp.code).not.toBe(0);
    expect(cp.stderr).toContain('a/\u201b/b');
    await rm(local, { recursive: true, force: true });
  });

  it('cp -r s3://…/d ./d keeps the X-Amz-Meta-Mtime of every file', async () => {
    const local = await mkdtemp(join(tmpdir(), 'ferry-cp-mtime-'));
    await put(`${s3.conn.prefix}/dated/one.txt`, '1', { mtime: '1000000000.5' });
    await put(`${s3.conn.prefix}/dated/sub/two.txt`, '2', { mtime: '1200000000' });
    const r = await ferry([...flags, 'cp', '-r', `${base}/dated`, join(local, 'dated')], cliEnv());
    expect(r).toMatchObject({ code: 0 });
    expect((await stat(join(local, 'dated/one.txt'))).mtimeMs).toBe(1000000000500);
    expect((await stat(join(local, 'dated/sub/two.txt'))).mtimeMs).toBe(1200000000000);
    // And the other way: local mtimes reach S3 as X-Amz-Meta-Mtime.
    await utimes(join(local, 'dated/one.txt'), 1300000000, 1300000000);
    expect(
      await ferry([...flags, 'cp', '-r', join(local, 'dated'), `${base}/again`], cliEnv()),
    ).toMatchObject({
      code: 0,
    });
    const head = await s3.client.send(
      new HeadObjectCommand({ Bucket: TEST_BUCKET, Key: `${s3.conn.prefix}/again/one.txt` }),
    );
    expect(head.Metadata?.mtime).toBe('1300000000');
    await rm(local, { recursive: true, force: true });
  });

  it('mv across devices (/tmp → /dev/shm) copies and deletes instead of failing', async () => {
    const [a, b] = await Promise.all([stat(tmpdir()), stat('/dev/shm')]);
    expect(a.dev, 'this test needs /dev/shm on another device than the temp folder').not.toBe(b.dev);
    const from = await mkdtemp(join(tmpdir(), 'ferry-xdev-'));
    const to = await mkdtemp('/dev/shm/ferry-xdev-');
    await mkdir(join(from, 'tree/sub'), { recursive: true });
    await writeFile(join(from, 'tree/sub/f.txt'), 'across');
    await writeFile(join(from, 'tree', NFD), 'nfd across');
    await utimes(join(from, 'tree/sub/f.txt'), 1100000000, 1100000000);
    await writeFile(join(from, 'single.txt'), 'one file');
    expect(await ferry(['mv', join(from, 'tree'), join(to, 'tree')], cliEnv())).toMatchObject({ code: 0 });
    expect(await readFile(join(to, 'tree/sub/f.txt'), 'utf8')).toBe('across');
    expect(await readFile(join(to, 'tree', NFD), 'utf8')).toBe('nfd across');
    expect((await stat(join(to, 'tree/sub/f.txt'))).mtimeMs).toBe(1100000000000);
    expect(existsSync(join(from, 'tree'))).toBe(false);
    expect(await ferry(['mv', join(from, 'single.txt'), join(to, 'single.txt')], cliEnv())).toMatchObject({
      code: 0,
    });
    expect(await readFile(join(to, 'single.txt'), 'utf8')).toBe('one file');
    expect(existsSync(join(from, 'single.txt'))).toBe(false);
    await rm(from, { recursive: true, force: true });
    await rm(to, { recursive: true, force: true });
  });
});
