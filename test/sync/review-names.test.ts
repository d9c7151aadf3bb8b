import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliEnv, ferry, requireBuiltCli } from '../support/cli.js';
import { readAll } from '../support/collect.js';
import { TEST_BUCKET, testS3, testS3Storage } from '../support/s3.js';

/**
 * Issue 11, session 8 review: keys another tool wrote that a local folder cannot hold. Each is an
 * error naming it (the sync exits 1), never a silent skip and never a write outside the destination.
 */
describe('ferry sync S3 → local: names Ferry cannot carry (built CLI, real S3)', () => {
  let s3: Awaited<ReturnType<typeof testS3Storage>>;
  let flags: string[];
  let base: string;
  let local: string;
  const put = (key: string, body: string) =>
    s3.client.send(
      new PutObjectCommand({ Bucket: TEST_BUCKET, Key: `${s3.conn.prefix}/${key}`, Body: body }),
    );
  const get = async (key: string) =>
    (
      await readAll(
        (
          await s3.client.send(new GetObjectCommand({ Bucket: TEST_BUCKET, Key: `${s3.conn.prefix}/${key}` }))
        ).Body as AsyncIterable<Uint8Array>,
      )
    ).toString();

  beforeAll(async () => {
    await requireBuiltCli();
    s3 = await testS3Storage();
    flags = ['--endpoint', testS3().endpoint, '--region', 'us-east-1'];
    base = `s3://${TEST_BUCKET}/${s3.conn.prefix}`;
    local = await mkdtemp(join(tmpdir(), 'ferry-review-names-'));
  });
  afterAll(async () => {
    await rm(local, { recursive: true, force: true });
  });

  it('a key `name/` holding bytes is not taken for an empty folder marker: a sync fails naming it', async () => {
    await put('m/ok.txt', 'ok');
    await put('m/dirkey/', 'bytes in a marker');
    await put('m/dirkey/inner.txt', 'inner');
    const r = await ferry([...flags, 'sync', `${base}/m`, join(local, 'm')], cliEnv());
    expect(r.stderr).toContain('dirkey/\u201b');
    expect(r.code).toBe(1);
    expect(await readFile(join(local, 'm', 'ok.txt'), 'utf8')).toBe('ok');
    expect(await readFile(join(local, 'm', 'dirkey', 'inner.txt'), 'utf8')).toBe('inner');

    // S3 → S3: no write makes a file of an empty name either; an error naming it, the rest copied.
    const s = await ferry([...flags, 'sync', `${base}/m`, `${base}/m2`], cliEnv());
    expect(s.stderr).toContain('dirkey/\u201b');
    expect(s.stderr).toContain('failed 1');
    expect(s.code).toBe(1);
    expect(await get('m2/dirkey/inner.txt')).toBe('inner');
  });

  it('keys with `..`, `.` and empty segments fail naming the key; nothing is written outside the destination', async () => {
    await put('p/ok.txt', 'ok');
    await put('p/x/../../../escape.txt', 'out');
    await put('p/a//b', 'double');
    await put('p/./dot', 'dot');
    const dest = join(local, 'deep', 'p');
    const r = await ferry([...flags, 'sync', `${base}/p`, dest], cliEnv());
    expect(r.code).toBe(1);
    for (const shown of ['x/\u201b../\u201b../\u201b../escape.txt', 'a/\u201b/b', '\u201b./dot'])
      expect(r.stderr).toContain(shown);
    expect(r.stderr).toContain('failed 3');
    expect(await readFile(join(dest, 'ok.txt'), 'utf8')).toBe('ok');
    expect(existsSync(join(local, 'escape.txt'))).toBe(false);
    expect(existsSync(join(local, 'deep', 'escape.txt'))).toBe(false);
    expect((await readdir(local)).sort()).toEqual(['deep', 'm']);
  });
});
