import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutBucketPolicyCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Client } from '../../src/s3/client.js';
import { ferry, requireBuiltCli } from '../support/cli.js';
import { credentialUrl, ensureBucket, secondUser, TEST_BUCKET, testConnection } from '../support/s3.js';

/**
 * `ferry sync` driven as a user would: the built CLI against RGW and local folders. Each test runs
 * several CLI processes, seconds each to start on a loaded machine: hence the long timeouts.
 */

const run = randomBytes(4).toString('hex');
const other = `ferry-sync-b-${run}`; // a second bucket (S3↔S3 across buckets)
const drop = `ferry-sync-ao-${run}`; // the append-only destination: test2 may only PutObject
const TEST2 = 'arn:aws:iam:::user/test2';
let admin: S3Client;
let dir: string;

const url = (bucket: string, key: string) => `s3://${bucket}/${key}`;
const prefix = (name: string) => `sync-${run}/${name}`;

async function tree(root: string, files: Record<string, string>): Promise<void> {
  for (const [p, body] of Object.entries(files)) {
    await mkdir(join(root, p, '..'), { recursive: true });
    await writeFile(join(root, p), body);
  }
}

/** Relative path → content of every file below `root`. */
async function localFiles(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const e of await readdir(root, { recursive: true, withFileTypes: true })) {
    if (!e.isFile()) continue;
    const abs = join(e.parentPath, e.name);
    out[abs.slice(root.length + 1)] = await readFile(abs, 'utf8');
  }
  return out;
}

/**
 * Relative key → size and ETag (the MD5 of a single-PUT object) below `bucket/key/`: what the
 * bucket owner can see of objects a write-only user put (RGW lets the owner list them, not read them).
 */
async function s3Listed(bucket: string, key: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const list = await admin.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `${key}/` }));
  for (const o of list.Contents ?? []) out[o.Key!.slice(key.length + 1)] = `${o.Size} ${o.ETag}`;
  return out;
}

const md5 = (body: string) => `${Buffer.byteLength(body)} "${createHash('md5').update(body).digest('hex')}"`;

/** Relative key → content of every object below `bucket/key/`. */
async function s3Files(bucket: string, key: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const list = await admin.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `${key}/` }));
  for (const o of list.Contents ?? []) {
    if (o.Key!.endsWith('/')) continue;
    const got = await admin.send(new GetObjectCommand({ Bucket: bucket, Key: o.Key! }));
    out[o.Key!.slice(key.length + 1)] = await got.Body!.transformToString();
  }
  return out;
}

async function emptyBucket(bucket: string, key = ''): Promise<void> {
  for (;;) {
    const list = await admin.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: key }));
    if (!list.Contents?.length) return;
    for (const o of list.Contents) await admin.send(new DeleteObjectCommand({ Bucket: bucket, Key: o.Key! }));
  }
}

const lines = (stdout: string) =>
  stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);

beforeAll(async () => {
  await requireBuiltCli();
  admin = createS3Client(testConnection());
  await ensureBucket(admin, TEST_BUCKET);
  await admin.send(new CreateBucketCommand({ Bucket: other }));
  await admin.send(new CreateBucketCommand({ Bucket: drop }));
  await admin.send(
    new PutBucketPolicyCommand({
      Bucket: drop,
      Policy: JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          {
            Effect: 'Allow',
            Principal: { AWS: [TEST2] },
            Action: ['s3:PutObject'],
            Resource: [`arn:aws:s3:::${drop}/*`],
          },
        ],
      }),
    }),
  );
  dir = await mkdtemp(join(tmpdir(), 'ferry-sync-cli-'));
});

afterAll(async () => {
  await emptyBucket(TEST_BUCKET, `sync-${run}/`);
  for (const b of [other, drop]) {
    await emptyBucket(b);
    await admin.send(new DeleteBucketCommand({ Bucket: b }));
  }
  admin.destroy();
  await rm(dir, { recursive: true, force: true });
});

describe('ferry sync: copy, mirror and move in each direction', { timeout: 300_000 }, () => {
  it('local → S3 → other bucket → local: copies, then a re-sync copies nothing', async () => {
    const src = join(dir, 'l2s');
    await tree(src, { 'a.txt': 'alpha', 'sub/b.txt': 'bravo', 'sub/deep/c.bin': 'charlie' });
    const up = await ferry(['sync', src, url(TEST_BUCKET, prefix('l2s'))]);
    expect(up.stderr).toMatch(
      /copied 3, updated 0, deleted 0, conflicts 0, skipped 0 \(0 unchanged\), failed 0/,
    );
    expect(up.code).toBe(0);
    expect(await s3Files(TEST_BUCKET, prefix('l2s'))).toEqual(await localFiles(src));

    const across = await ferry(['sync', url(TEST_BUCKET, prefix('l2s')), url(other, 'copy')]);
    expect(across.code).toBe(0);
    expect(await s3Files(other, 'copy')).toEqual(await localFiles(src));

    const back = join(dir, 'back');
    const down = await ferry(['sync', url(other, 'copy'), back]);
    expect(down.code).toBe(0);
    expect(await localFiles(back)).toEqual(await localFiles(src));

    for (const [s, d] of [
      [src, url(TEST_BUCKET, prefix('l2s'))],
      [url(TEST_BUCKET, prefix('l2s')), url(other, 'copy')],
      [url(other, 'copy'), back],
    ] as const) {
      const again = await ferry(['sync', s!, d!, '--json']);
      expect(again.code).toBe(0);
      const ev = lines(again.stdout);
      expect(ev.filter((e) => e.event !== 'summary')).toEqual([]);
      expect(ev.at(-1)).toMatchObject({ event: 'summary', copied: 0, updated: 0, skipped: 3, failed: 0 });
    }
  });

  it('mirror deletes at the destination what the source lacks (local → S3, S3 → S3, S3 → local)', async () => {
    const src = join(dir, 'mirror');
    await tree(src, { 'keep.txt': 'k', 'gone.txt': 'g' });
    const s3a = url(TEST_BUCKET, prefix('mirror'));
    const s3b = url(other, 'mirror');
    const local = join(dir, 'mirror-back');
    expect((await ferry(['sync', src, s3a])).code).toBe(0);
    expect((await ferry(['sync', s3a, s3b])).code).toBe(0);
    expect((await ferry(['sync', s3b, local])).code).toBe(0);
    await rm(join(src, 'gone.txt'));
    await writeFile(join(src, 'new.txt'), 'n');
    // Without --mirror nothing is deleted.
    await ferry(['sync', src, s3a]);
    expect(Object.keys(await s3Files(TEST_BUCKET, prefix('mirror'))).sort()).toEqual([
      'gone.txt',
      'keep.txt',
      'new.txt',
    ]);
    for (const [s, d] of [
      [src, s3a],
      [s3a, s3b],
      [s3b, local],
    ]) {
      const res = await ferry(['sync', '--mirror', s!, d!]);
      expect(res.code).toBe(0);
      expect(res.stderr).toMatch(/deleted 1,/);
    }
    expect(await s3Files(TEST_BUCKET, prefix('mirror'))).toEqual({ 'keep.txt': 'k', 'new.txt': 'n' });
    expect(await s3Files(other, 'mirror')).toEqual({ 'keep.txt': 'k', 'new.txt': 'n' });
    expect(await localFiles(local)).toEqual({ 'keep.txt': 'k', 'new.txt': 'n' });
  });

  it('move deletes each source file after its copy (local → S3, S3 → S3, S3 → local)', async () => {
    const src = join(dir, 'move');
    await tree(src, { 'm1.txt': 'one', 'd/m2.txt': 'two' });
    const s3a = url(TEST_BUCKET, prefix('move'));
    const s3b = url(other, 'move');
    const local = join(dir, 'move-back');
    for (const [s, d] of [
      [src, s3a],
      [s3a, s3b],
      [s3b, local],
    ]) {
      const res = await ferry(['sync', '--move', s!, d!]);
      expect(res.code).toBe(0);
      expect(res.stderr).toMatch(/copied 2, updated 0, deleted 2,/);
    }
    expect(await localFiles(src)).toEqual({});
    expect(await s3Files(TEST_BUCKET, prefix('move'))).toEqual({});
    expect(await s3Files(other, 'move')).toEqual({});
    expect(await localFiles(local)).toEqual({ 'm1.txt': 'one', 'd/m2.txt': 'two' });
  });
});

describe('ferry sync: compare modes, dry run, refusals, filters', { timeout: 300_000 }, () => {
  it('--size-only, --checksum and --update decide as documented', async () => {
    const src = join(dir, 'cmp');
    const dst = url(TEST_BUCKET, prefix('cmp'));
    await tree(src, { 'x.txt': 'xxxx' });
    await ferry(['sync', src, dst]);
    // Same size, other bytes, an old local time: size+mtime and size-only see nothing, checksum does.
    await writeFile(join(src, 'x.txt'), 'XXXX');
    const old = new Date(Date.now() - 86_400_000);
    await utimes(join(src, 'x.txt'), old, old);
    for (const flag of [[], ['--size-only']]) {
      const res = await ferry(['sync', ...flag, src, dst, '--json']);
      expect(lines(res.stdout).at(-1)).toMatchObject({ copied: 0, updated: 0 });
    }
    const sum = await ferry(['sync', '--checksum', src, dst, '--json']);
    expect(lines(sum.stdout).at(-1)).toMatchObject({ updated: 1 });
    expect(await s3Files(TEST_BUCKET, prefix('cmp'))).toEqual({ 'x.txt': 'XXXX' });
    // A longer, older file: copied by default, kept by --update (the destination is newer).
    await writeFile(join(src, 'x.txt'), 'longer now');
    await utimes(join(src, 'x.txt'), old, old);
    const upd = await ferry(['sync', '--update', src, dst, '--json']);
    expect(lines(upd.stdout).at(-1)).toMatchObject({ updated: 0, skipped: 1 });
    const plain = await ferry(['sync', src, dst, '--json']);
    expect(lines(plain.stdout).at(-1)).toMatchObject({ updated: 1 });
  });

  it('--dry-run prints the plan and changes nothing', async () => {
    const src = join(dir, 'dry');
    const dst = url(TEST_BUCKET, prefix('dry'));
    await tree(src, { 'a.txt': 'a', 'b.txt': 'b' });
    await ferry(['sync', src, dst]);
    await writeFile(join(src, 'a.txt'), 'changed');
    await writeFile(join(src, 'c.txt'), 'c');
    await rm(join(src, 'b.txt'));
    const before = await s3Files(TEST_BUCKET, prefix('dry'));
    const res = await ferry(['sync', '--mirror', '--dry-run', src, dst]);
    expect(res.code).toBe(0);
    expect(res.stdout.trim().split('\n')).toEqual([
      'update a.txt (changed, 7 B)',
      'copy c.txt (new, 1 B)',
      'delete b.txt (mirror)',
    ]);
    expect(res.stderr).toMatch(/dry run, nothing changed; would have copied 1, updated 1, deleted 1/);
    expect(await s3Files(TEST_BUCKET, prefix('dry'))).toEqual(before);
  });

  it('--max-delete 10 refuses a mirror that would delete 11, and changes nothing', async () => {
    const src = join(dir, 'maxdel');
    const dst = url(TEST_BUCKET, prefix('maxdel'));
    const files: Record<string, string> = { 'stay.txt': 's' };
    for (let i = 0; i < 11; i++) files[`old/${i}.txt`] = `${i}`;
    await tree(src, files);
    await ferry(['sync', src, dst]);
    await rm(join(src, 'old'), { recursive: true });
    await writeFile(join(src, 'fresh.txt'), 'f');
    const before = await s3Files(TEST_BUCKET, prefix('maxdel'));
    const res = await ferry(['sync', '--mirror', '--max-delete', '10', src, dst]);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/would delete 11 files .* more than --max-delete 10; nothing was changed/);
    expect(await s3Files(TEST_BUCKET, prefix('maxdel'))).toEqual(before);
    const ok = await ferry(['sync', '--mirror', '--max-delete', '11', src, dst]);
    expect(ok.code).toBe(0);
    expect(await s3Files(TEST_BUCKET, prefix('maxdel'))).toEqual({ 'stay.txt': 's', 'fresh.txt': 'f' });
  });

  it('refuses to mirror from an empty or missing source', async () => {
    const dst = url(TEST_BUCKET, prefix('keepme'));
    const src = join(dir, 'full');
    await tree(src, { 'precious.txt': 'p' });
    await ferry(['sync', src, dst]);
    const empty = join(dir, 'empty');
    await mkdir(empty);
    const e = await ferry(['sync', '--mirror', empty, dst]);
    expect(e.code).toBe(2);
    expect(e.stderr).toMatch(/refusing to mirror .* no files/);
    const m = await ferry(['sync', '--mirror', join(dir, 'missing'), dst]);
    expect(m.code).toBe(3);
    expect(m.stderr).toMatch(/the source does not exist/);
    const s3Missing = await ferry(['sync', '--mirror', url(TEST_BUCKET, prefix('nothing-here')), dst]);
    expect(s3Missing.code).toBe(3);
    expect(await s3Files(TEST_BUCKET, prefix('keepme'))).toEqual({ 'precious.txt': 'p' });
  });

  it('a destination bucket that does not exist fails the sync once, before any copy', async () => {
    const src = join(dir, 'nobucket');
    const files: Record<string, string> = {};
    for (let i = 0; i < 5; i++) files[`${i}.txt`] = `${i}`;
    await tree(src, files);
    const res = await ferry(['sync', src, url('ferry-no-such-bucket-x', 'a/')]);
    expect(res.code).toBe(3);
    expect(res.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(/no such bucket: ferry-no-such-bucket-x/),
    ]);
  });

  it('--include / --exclude filter both sides (a mirror never deletes an excluded file)', async () => {
    const src = join(dir, 'filt');
    const dst = url(TEST_BUCKET, prefix('filt'));
    await tree(src, { 'a.jpg': '1', 'b.txt': '2', 'logs/x.log': '3', 'pics/c.jpg': '4' });
    await admin.send(
      new PutObjectCommand({ Bucket: TEST_BUCKET, Key: `${prefix('filt')}/only-there.txt`, Body: 'o' }),
    );
    const res = await ferry([
      'sync',
      '--mirror',
      '--include',
      '*.jpg',
      '--include',
      'logs/**',
      '--exclude',
      'pics/**',
      src,
      dst,
    ]);
    expect(res.code).toBe(0);
    expect(await s3Files(TEST_BUCKET, prefix('filt'))).toEqual({
      'a.jpg': '1',
      'logs/x.log': '3',
      'only-there.txt': 'o',
    });
  });
});

describe('ferry sync: failures, JSON events, append-only', { timeout: 300_000 }, () => {
  it('a name the destination cannot hold fails that file, the others are copied, exit 1', async () => {
    const key = prefix('names');
    const long = `${'n'.repeat(300)}.txt`; // longer than a local file name may be
    await admin.send(new PutObjectCommand({ Bucket: TEST_BUCKET, Key: `${key}/${long}`, Body: 'x' }));
    await admin.send(new PutObjectCommand({ Bucket: TEST_BUCKET, Key: `${key}/fine.txt`, Body: 'y' }));
    const local = join(dir, 'names');
    const res = await ferry(['sync', url(TEST_BUCKET, key), local, '--json']);
    expect(res.code).toBe(1);
    const ev = lines(res.stdout);
    expect(ev.filter((e) => e.event === 'failed')).toEqual([
      expect.objectContaining({ path: long, op: 'copy' }),
    ]);
    expect(ev.filter((e) => e.event === 'copied')).toEqual([
      expect.objectContaining({ path: 'fine.txt', bytes: 1 }),
    ]);
    expect(ev.at(-1)).toMatchObject({ event: 'summary', copied: 1, failed: 1 });
    expect(await localFiles(local)).toEqual({ 'fine.txt': 'y' });
  });

  it('--json: one JSON line per event (plan, copied, deleted, summary)', async () => {
    const src = join(dir, 'json');
    const dst = url(TEST_BUCKET, prefix('json'));
    await tree(src, { 'one.txt': '1' });
    await admin.send(
      new PutObjectCommand({ Bucket: TEST_BUCKET, Key: `${prefix('json')}/extra.txt`, Body: 'e' }),
    );
    const res = await ferry(['sync', '--mirror', '--json', src, dst]);
    expect(res.code).toBe(0);
    // Progress lines come at most once a second, between the others.
    const ev = lines(res.stdout).filter((e) => e.event !== 'progress');
    expect(ev.map((e) => e.event)).toEqual(['plan', 'plan', 'copied', 'deleted', 'summary']);
    expect(ev[2]).toMatchObject({ op: 'copy', path: 'one.txt', to: 'one.txt', reason: 'new', bytes: 1 });
    expect(ev[3]).toMatchObject({ op: 'delete', path: 'extra.txt', reason: 'mirror' });
    expect(ev[4]).toMatchObject({ copied: 1, deleted: 1, failed: 0, bytes: 1 });
  });

  it('--append-only with s3:PutObject alone: the first run adds, the second finds the names taken and overwrites nothing', async () => {
    const src = join(dir, 'ao');
    await tree(src, { 'day1.csv': 'a,b', 'sub/day2.csv': 'c,d' });
    const dst = credentialUrl(secondUser(), `${drop}/feed`);
    const first = await ferry(['sync', '--append-only', src, dst]);
    expect(first.stderr).toMatch(/cannot be listed with these credentials/);
    expect(first.stderr).toMatch(/copied 2, updated 0, deleted 0, conflicts 0/);
    expect(first.code).toBe(0);
    expect(await s3Listed(drop, 'feed')).toEqual({ 'day1.csv': md5('a,b'), 'sub/day2.csv': md5('c,d') });
    // Changed at the source: the destination keeps its bytes; the run says which names were taken.
    await writeFile(join(src, 'day1.csv'), 'changed!');
    await writeFile(join(src, 'day3.csv'), 'e,f');
    const second = await ferry(['sync', '--append-only', '--json', src, dst]);
    expect(second.code).toBe(0);
    const ev = lines(second.stdout);
    expect(
      ev
        .filter((e) => e.event === 'skipped')
        .map((e) => [e.path, e.reason])
        .sort(),
    ).toEqual([
      ['day1.csv', 'exists'],
      ['sub/day2.csv', 'exists'],
    ]);
    expect(ev.at(-1)).toMatchObject({
      copied: 1,
      updated: 0,
      deleted: 0,
      conflicts: 2,
      skipped: 2,
      failed: 0,
    });
    expect(await s3Listed(drop, 'feed')).toEqual({
      'day1.csv': md5('a,b'),
      'sub/day2.csv': md5('c,d'),
      'day3.csv': md5('e,f'),
    });
    // The write-only user could not even look: the run never needed GET, HEAD, LIST or DELETE.
    const peek = await ferry(['ls', dst]);
    expect(peek.code).toBe(4);
  });

  it('--append-only where the destination can be listed: a changed file is added as "name (1).ext"', async () => {
    const src = join(dir, 'ao2');
    const dst = url(TEST_BUCKET, prefix('ao2'));
    await tree(src, { 'report.pdf': 'v1' });
    await ferry(['sync', '--append-only', src, dst]);
    await writeFile(join(src, 'report.pdf'), 'version 2');
    const res = await ferry(['sync', '--append-only', src, dst]);
    expect(res.code).toBe(0);
    expect(res.stderr).toMatch(/copied 0, updated 0, deleted 0, conflicts 1/);
    expect(await s3Files(TEST_BUCKET, prefix('ao2'))).toEqual({
      'report.pdf': 'v1',
      'report (1).pdf': 'version 2',
    });
    const again = await ferry(['sync', '--append-only', src, dst]);
    expect(again.stderr).toMatch(/copied 0, updated 0, deleted 0, conflicts 0, skipped 1/);
  });
});
