import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { beforeAll, describe, expect, it } from 'vitest';
import { BufferBudget } from '../../src/s3/buffer-budget.js';
import { SHA256_META } from '../../src/s3/checksum.js';
import { type DownloadTuning, downloadObject } from '../../src/s3/download.js';
import { downloadToFile } from '../../src/s3/download-file.js';
import { checkedStorage } from '../../src/storage/checked.js';
import { StorageError } from '../../src/storage/errors.js';
import { copyTree } from '../../src/storage/operations.js';
import { S3Storage } from '../../src/storage/s3/s3-storage.js';
import { readAll } from '../support/collect.js';
import { s3BehindFaultProxy, testConnection } from '../support/s3.js';
import { suiteFixture } from '../support/suite.js';

const MiB = 1024 * 1024;
const tuning: DownloadTuning = { partSize: 2 * MiB, concurrency: 3, partAttempts: 3 };
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('download engine (parallel ranged GETs on a real S3 server)', () => {
  const conn = testConnection();
  const s3 = suiteFixture(() => s3BehindFaultProxy(conn));
  const key = (name: string) => `${conn.prefix}/${name}`;
  const data = randomBytes(11 * MiB + 7);

  beforeAll(async () => {
    await s3.direct.send(new PutObjectCommand({ Bucket: conn.bucket, Key: key('big.bin'), Body: data }));
  });

  it('reassembles parallel ranges in order, one GET per part', async () => {
    const before = s3.proxy.count('GetObject');
    const budget = new BufferBudget(64 * MiB);
    const res = await downloadObject(
      s3.viaProxy,
      { bucket: conn.bucket, key: key('big.bin'), budget },
      tuning,
    );
    expect(res.objectSize).toBe(data.length);
    expect(sha(await readAll(res.body))).toBe(sha(data));
    expect(s3.proxy.count('GetObject') - before).toBe(6); // ceil(11 MiB / 2 MiB)
    // Never more than `concurrency` parts buffered; all given back at the end.
    expect(budget.peak).toBeLessThanOrEqual(tuning.concurrency * tuning.partSize);
    expect(budget.held).toBe(0);
  });

  it('reads byte ranges that start and end inside parts', async () => {
    for (const [offset, length] of [
      [0, 1],
      [3 * MiB + 5, 5 * MiB],
      [10 * MiB, undefined],
      [data.length - 3, 100],
    ] as const) {
      const res = await downloadObject(
        s3.direct,
        { bucket: conn.bucket, key: key('big.bin'), offset, length },
        tuning,
      );
      const want = data.subarray(offset, length === undefined ? undefined : offset + length);
      expect(sha(await readAll(res.body)), `${offset}+${length}`).toBe(sha(want));
    }
  });

  it('tries a failing part again', async () => {
    let failures = 0;
    s3.proxy.decide = (r) => {
      if (r.op === 'GetObject' && r.url.pathname.endsWith('big.bin') && failures < 4) {
        failures++;
        return failures === 1 ? 'pass' : 'fail'; // the first (streamed) range passes
      }
      return 'pass';
    };
    try {
      const res = await downloadObject(s3.viaProxy, { bucket: conn.bucket, key: key('big.bin') }, tuning);
      expect(sha(await readAll(res.body))).toBe(sha(data));
    } finally {
      s3.proxy.decide = () => 'pass';
    }
    expect(failures).toBe(4);
  });

  it('a part that keeps failing fails the stream and gives the buffers back', async () => {
    const budget = new BufferBudget(64 * MiB);
    let n = 0;
    s3.proxy.decide = (r) => (r.op === 'GetObject' && n++ > 0 ? 'fail' : 'pass');
    try {
      const res = await downloadObject(
        s3.viaProxy,
        { bucket: conn.bucket, key: key('big.bin'), budget },
        { ...tuning, partAttempts: 1 },
      );
      await expect(readAll(res.body)).rejects.toBeDefined();
    } finally {
      s3.proxy.decide = () => 'pass';
    }
    await new Promise((r) => setTimeout(r, 100));
    expect(budget.held).toBe(0);
  });

  it('verifies the whole object against its ferry-sha256 metadata', async () => {
    const good = randomBytes(5 * MiB);
    await s3.direct.send(
      new PutObjectCommand({
        Bucket: conn.bucket,
        Key: key('tampered.bin'),
        Body: good,
        Metadata: { [SHA256_META]: sha(Buffer.from('something else')) },
      }),
    );
    const res = await downloadObject(s3.direct, { bucket: conn.bucket, key: key('tampered.bin') }, tuning);
    const err = await readAll(res.body).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StorageError);
    expect((err as StorageError).code).toBe('Conflict');
    // The same when one GET is enough (the small-file path).
    const one = await downloadObject(
      s3.direct,
      { bucket: conn.bucket, key: key('tampered.bin') },
      { ...tuning, partSize: 8 * MiB, closeFirstConnection: true },
    );
    await expect(readAll(one.body)).rejects.toMatchObject({ code: 'Conflict' });
    // A range read can't be checked against a whole-object hash and is not failed.
    const part = await downloadObject(
      s3.direct,
      { bucket: conn.bucket, key: key('tampered.bin'), offset: 1, length: 10 },
      tuning,
    );
    expect((await readAll(part.body)).length).toBe(10);
  });

  it('a first range cut short without an error is fetched again, never handed on short (defect 8)', async () => {
    const cut = (times: number) => {
      let n = 0;
      s3.proxy.decide = (r) =>
        r.op === 'GetObject' && r.url.pathname.endsWith('big.bin') && n++ < times
          ? { truncateAfter: 1000 }
          : 'pass';
    };
    try {
      // Many ranges: the first (streamed) one ends after 1000 bytes, cleanly.
      cut(1);
      const many = await downloadObject(s3.viaProxy, { bucket: conn.bucket, key: key('big.bin') }, tuning);
      expect(sha(await readAll(many.body))).toBe(sha(data));
      // One range (the small-file path): the same.
      cut(1);
      const one = await downloadObject(
        s3.viaProxy,
        { bucket: conn.bucket, key: key('big.bin'), offset: 5, length: MiB },
        tuning,
      );
      expect(sha(await readAll(one.body))).toBe(sha(data.subarray(5, 5 + MiB)));
      // Cut short on every try: an error, not a short stream.
      cut(1000);
      const never = await downloadObject(
        s3.viaProxy,
        { bucket: conn.bucket, key: key('big.bin') },
        { ...tuning, partAttempts: 2 },
      );
      await expect(readAll(never.body)).rejects.toBeInstanceOf(StorageError);
      cut(1000);
      const neverOne = await downloadObject(
        s3.viaProxy,
        { bucket: conn.bucket, key: key('big.bin'), length: MiB },
        { ...tuning, partAttempts: 2 },
      );
      await expect(readAll(neverOne.body)).rejects.toBeInstanceOf(StorageError);
    } finally {
      s3.proxy.decide = () => 'pass';
    }
  });

  it('S3Storage.read uses the engine: whole, ranged, empty and missing files', async () => {
    const raw = new S3Storage(s3.direct, conn);
    raw.download = tuning;
    const s = checkedStorage(raw);
    expect(sha(await readAll(await s.read('big.bin')))).toBe(sha(data));
    expect(await readAll(await s.read('big.bin', { offset: 4 * MiB, length: 3 }))).toEqual(
      data.subarray(4 * MiB, 4 * MiB + 3),
    );
    await s.write('empty.bin', Buffer.alloc(0));
    expect((await readAll(await s.read('empty.bin'))).length).toBe(0);
    await expect(s.read('nothing-here.bin')).rejects.toMatchObject({ code: 'NotFound' });
  });

  it('with no budget to spare, streams the ranges in order instead of prefetching', async () => {
    const budget = new BufferBudget(1); // nothing fits: every range is streamed
    const res = await downloadObject(s3.direct, { bucket: conn.bucket, key: key('big.bin'), budget }, tuning);
    expect(sha(await readAll(res.body))).toBe(sha(data));
    expect(budget.peak).toBe(0);
  });

  it('copies between two S3 storages sharing a small budget without deadlock', async () => {
    const budget = new BufferBudget(12 * MiB);
    const make = (c: typeof conn) => {
      const raw = new S3Storage(s3.direct, c);
      raw.budget = budget;
      raw.upload = { threshold: 5 * MiB, partSize: 5 * MiB, concurrency: 3, partAttempts: 3 };
      raw.download = { partSize: 5 * MiB, concurrency: 3, partAttempts: 3 };
      return checkedStorage(raw);
    };
    const from = make({ ...conn, prefix: `${conn.prefix}/from` });
    const to = make({ ...conn, prefix: `${conn.prefix}/to` });
    const files = [0, 1, 2, 3].map(() => randomBytes(16 * MiB));
    await Promise.all(files.map((f, i) => from.write(`f${i}`, f, { size: f.length })));
    expect(await copyTree(from, '', to, '', { concurrency: 4 })).toBe(4);
    for (const [i, f] of files.entries()) expect(sha(await readAll(await to.read(`f${i}`)))).toBe(sha(f));
    expect(budget.held).toBe(0);
  });

  it('downloadToFile writes parts at their offsets, skips those already there, fails cleanly', async () => {
    const dir = await fs.mkdtemp(join(tmpdir(), 'ferry-dl-'));
    try {
      const path = join(dir, 'out.bin');
      await fs.writeFile(path, Buffer.alloc(data.length)); // zeros
      const budget = new BufferBudget(64 * MiB);
      const seen: number[] = [];
      const file = await fs.open(path, 'r+');
      await downloadToFile(
        s3.viaProxy,
        {
          bucket: conn.bucket,
          key: key('big.bin'),
          size: data.length,
          skip: new Set([1]),
          budget,
          onPart: (i) => void seen.push(i),
        },
        file,
        tuning,
      );
      await file.close();
      const got = await fs.readFile(path);
      // Part 1 was "already there" (zeros here): not fetched; every other part is the object's.
      expect(got.subarray(2 * MiB, 4 * MiB).equals(Buffer.alloc(2 * MiB))).toBe(true);
      expect(got.subarray(0, 2 * MiB).equals(data.subarray(0, 2 * MiB))).toBe(true);
      expect(got.subarray(4 * MiB).equals(data.subarray(4 * MiB))).toBe(true);
      expect(seen.sort()).toEqual([0, 2, 3, 4, 5]);
      expect(budget.held).toBe(0);

      s3.proxy.decide = (r) => (r.op === 'GetObject' ? 'fail' : 'pass');
      const again = await fs.open(path, 'r+');
      try {
        await expect(
          downloadToFile(
            s3.viaProxy,
            { bucket: conn.bucket, key: key('big.bin'), size: data.length, budget },
            again,
            { ...tuning, partAttempts: 1 },
          ),
        ).rejects.toBeInstanceOf(StorageError);
      } finally {
        s3.proxy.decide = () => 'pass';
        await again.close();
      }
      expect(budget.held).toBe(0);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
