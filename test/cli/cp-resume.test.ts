import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { cliFaultRig, ferry, ferryBin } from '../support/cli.js';
import { readAll } from '../support/collect.js';
import { objectExists, testConnection, testS3, unfinishedUploads } from '../support/s3.js';
import { suiteFixture } from '../support/suite.js';

const MiB = 1024 * 1024;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('ferry cp of a large local file killed with SIGKILL, run again', () => {
  const conn = testConnection();
  const rig = suiteFixture(() => cliFaultRig(conn, 'ferry-resume-'));

  const flags = (endpoint: string) => [
    '--endpoint',
    endpoint,
    '--part-size',
    '5MiB',
    '--multipart-threshold',
    '5MiB',
    '--part-concurrency',
    '2',
  ];
  const unfinished = async (key: string) =>
    (await unfinishedUploads(rig.client, conn.bucket, key)).filter((u) => u.key === key);
  const exists = (key: string) => objectExists(rig.client, conn.bucket, key);

  /** Start `ferry cp` through the slow proxy and SIGKILL it once `parts` parts are in S3. */
  async function killMidway(file: string, key: string, parts: number) {
    const before = rig.proxy.answered.UploadPart ?? 0;
    rig.proxy.decide = (r) => (r.op === 'UploadPart' ? { delayMs: 300 } : 'pass');
    const child = spawn(
      process.execPath,
      [ferryBin, ...flags(rig.proxy.endpoint), 'cp', '--no-progress', file, `s3://${conn.bucket}/${key}`],
      { env: rig.env, stdio: 'ignore' },
    );
    const exited = new Promise((r) => child.on('exit', r));
    try {
      for (let i = 0; i < 600 && (rig.proxy.answered.UploadPart ?? 0) - before < parts; i++)
        await new Promise((r) => setTimeout(r, 50));
      child.kill('SIGKILL');
      await exited;
    } finally {
      rig.proxy.decide = () => 'pass';
    }
  }

  it('leaves no object, continues from the parts in S3, and leaves no unfinished upload', async () => {
    const data = randomBytes(42 * MiB);
    const file = join(rig.dir, 'big.bin');
    await fs.writeFile(file, data);
    const key = `${conn.prefix}/big.bin`;

    await killMidway(file, key, 3);
    expect(await exists(key)).toBe(false);
    const open = await unfinished(key);
    expect(open).toHaveLength(1);
    expect(open[0]!.parts).toBeGreaterThanOrEqual(3);
    const ls = await ferry(['uploads', 'ls', `s3://${conn.bucket}/${conn.prefix}/`], rig.env);
    expect(ls.stdout).toContain('big.bin');

    const rerun = await ferry(
      [...flags(rig.proxy.endpoint), 'cp', file, `s3://${conn.bucket}/${key}`],
      rig.env,
    );
    expect(rerun.stderr).toMatch(/resumed an earlier upload/);
    expect(rerun.code).toBe(0);
    const sent = Number(/\((\d+) bytes\)/.exec(rerun.stderr)?.[1]);
    // At least the parts that were in S3 were kept (the rest, and any part cut off, re-sent).
    expect(sent).toBeLessThanOrEqual(data.length - open[0]!.bytes!);
    expect(sent).toBeGreaterThan(0);

    const got = await rig.client.send(new GetObjectCommand({ Bucket: conn.bucket, Key: key }));
    expect(sha(await readAll(got.Body as Readable))).toBe(sha(data));
    expect(await unfinished(key)).toHaveLength(0);
    const after = await ferry(['uploads', 'ls', `s3://${conn.bucket}/${conn.prefix}/`], rig.env);
    expect(after).toMatchObject({ code: 0, stdout: '' });
    expect(await fs.readdir(join(rig.dir, 'state/uploads'))).toEqual([]);
  });

  it('a file changed after the kill is uploaded afresh, and the stale upload is aborted', async () => {
    const file = join(rig.dir, 'changes.bin');
    await fs.writeFile(file, randomBytes(30 * MiB));
    const key = `${conn.prefix}/changes.bin`;
    await killMidway(file, key, 2);
    expect(await unfinished(key)).toHaveLength(1);

    const changed = randomBytes(31 * MiB);
    await fs.writeFile(file, changed);
    const rerun = await ferry(
      [...flags(rig.proxy.endpoint), 'cp', file, `s3://${conn.bucket}/${key}`],
      rig.env,
    );
    expect(rerun.code).toBe(0);
    expect(rerun.stderr).not.toMatch(/resumed/);
    const got = await rig.client.send(new GetObjectCommand({ Bucket: conn.bucket, Key: key }));
    expect(sha(await readAll(got.Body as Readable))).toBe(sha(changed));
    expect(await unfinished(key)).toHaveLength(0);
  });

  it('--verify reads the copy back and compares SHA-256; --json gives progress events', async () => {
    const data = randomBytes(12 * MiB);
    const file = join(rig.dir, 'verify.bin');
    await fs.writeFile(file, data);
    const res = await ferry(
      [
        ...flags(testS3().endpoint),
        'cp',
        '--verify',
        '--json',
        file,
        `s3://${conn.bucket}/${conn.prefix}/v.bin`,
      ],
      rig.env,
    );
    expect(res.code).toBe(0);
    const events = res.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(events.find((e) => e.event === 'verified')).toMatchObject({ sha256: sha(data) });
    expect(events.at(-1)).toMatchObject({ event: 'done', bytes: data.length, files: 1 });
    expect(events.filter((e) => e.event === 'progress').length).toBeGreaterThan(0);
    // Back to a local file (the parallel positional download path), verified the same way.
    const back = await ferry(
      [
        ...flags(testS3().endpoint),
        'cp',
        '--verify',
        '--json',
        `s3://${conn.bucket}/${conn.prefix}/v.bin`,
        join(rig.dir, 'v-back.bin'),
      ],
      rig.env,
    );
    expect(back.code).toBe(0);
    expect(back.stdout).toContain(`"sha256":"${sha(data)}"`);
    expect(sha(await fs.readFile(join(rig.dir, 'v-back.bin')))).toBe(sha(data));
    // Not a TTY and no --json: nothing but the copy.
    const quiet = await ferry(['cp', file, `s3://${conn.bucket}/${conn.prefix}/q.bin`], rig.env);
    expect(quiet).toMatchObject({ code: 0, stdout: '', stderr: '' });
  });

  it('a download killed with SIGKILL continues from the partial file when run again', async () => {
    const data = randomBytes(40 * MiB);
    const key = `${conn.prefix}/down.bin`;
    await rig.client.send(new PutObjectCommand({ Bucket: conn.bucket, Key: key, Body: data }));
    const dest = join(rig.dir, 'down', 'copy.bin');
    // Slow ranged GETs, so the kill lands half-way.
    const before = rig.proxy.answered.GetObject ?? 0;
    rig.proxy.decide = (r) => (r.op === 'GetObject' ? { delayMs: 300 } : 'pass');
    const child = spawn(
      process.execPath,
      [ferryBin, ...flags(rig.proxy.endpoint), 'cp', '--no-progress', `s3://${conn.bucket}/${key}`, dest],
      { env: rig.env, stdio: 'ignore' },
    );
    const exited = new Promise((r) => child.on('exit', r));
    try {
      for (let i = 0; i < 600 && (rig.proxy.answered.GetObject ?? 0) - before < 3; i++)
        await new Promise((r) => setTimeout(r, 50));
      // Wait until the sidecar records at least one part written, then kill.
      for (let i = 0; i < 200; i++) {
        const side = await fs.readFile(`${dest}.ferry-download.json`, 'utf8').catch(() => '');
        if (side && JSON.parse(side).done.length >= 1) break;
        await new Promise((r) => setTimeout(r, 25));
      }
      child.kill('SIGKILL');
      await exited;
    } finally {
      rig.proxy.decide = () => 'pass';
    }
    const done = JSON.parse(await fs.readFile(`${dest}.ferry-download.json`, 'utf8')).done as number[];
    expect(done.length).toBeGreaterThan(0);
    expect(done.length).toBeLessThan(8); // 40 MiB in 5 MiB parts: not finished
    await expect(fs.stat(dest)).rejects.toThrow();

    const rerun = await ferry(
      [...flags(rig.proxy.endpoint), 'cp', `s3://${conn.bucket}/${key}`, dest],
      rig.env,
    );
    expect(rerun.code).toBe(0);
    const fetched = Number(/\((\d+) bytes\)/.exec(rerun.stderr)?.[1]);
    expect(rerun.stderr).toMatch(/resumed an interrupted download/);
    // At least the parts recorded before the kill were not fetched again.
    expect(fetched).toBeLessThanOrEqual(data.length - done.length * 5 * MiB);
    expect(fetched).toBeGreaterThan(0);
    expect(sha(await fs.readFile(dest))).toBe(sha(data));
    expect(await fs.readdir(join(rig.dir, 'down'))).toEqual(['copy.bin']);
  });

  it('--checksum stores the SHA-256 on a multipart object too', async () => {
    const data = randomBytes(12 * MiB);
    const file = join(rig.dir, 'sum.bin');
    await fs.writeFile(file, data);
    const key = `${conn.prefix}/sum.bin`;
    const res = await ferry(
      [...flags(testS3().endpoint), 'cp', '--checksum', file, `s3://${conn.bucket}/${key}`],
      rig.env,
    );
    expect(res.code).toBe(0);
    const head = await rig.client.send(new HeadObjectCommand({ Bucket: conn.bucket, Key: key }));
    expect(head.ETag).toMatch(/-\d+"$/); // multipart
    expect(head.Metadata?.['ferry-sha256']).toBe(sha(data));
  });
});
