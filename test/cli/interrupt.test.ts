import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { cliFaultRig, ferry, ferryBin } from '../support/cli.js';
import { readAll } from '../support/collect.js';
import type { FaultAction, SeenRequest } from '../support/fault-proxy.js';
import { objectExists, testConnection, unfinishedUploads } from '../support/s3.js';
import { suiteFixture } from '../support/suite.js';

const MiB = 1024 * 1024;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Issue 7 defects 9 and 12: Ctrl-C (SIGINT) and SIGTERM abort what the CLI is doing through an
 * AbortSignal; what can be resumed is kept and said (with how to resume and how to discard it),
 * the rest is cleaned up; exit codes 130 / 143. Real signals to the built CLI; then the bucket
 * (ListMultipartUploads) and the folder are looked at.
 */
describe('ferry cp interrupted by SIGINT / SIGTERM', () => {
  const conn = testConnection();
  const rig = suiteFixture(() => cliFaultRig(conn, 'ferry-interrupt-'));

  const flags = () => [
    '--endpoint',
    rig.proxy.endpoint,
    '--part-size',
    '5MiB',
    '--multipart-threshold',
    '5MiB',
    '--part-concurrency',
    '2',
  ];
  const unfinished = (key: string) => unfinishedUploads(rig.client, conn.bucket, key);
  const exists = (key: string) => objectExists(rig.client, conn.bucket, key);

  /** Start the CLI with the proxy deciding; send `sig` once `ready()`; resolve exit code and stderr. */
  async function interrupt(
    args: string[],
    decide: (r: SeenRequest) => FaultAction,
    ready: () => Promise<boolean>,
    sig: NodeJS.Signals,
  ) {
    rig.proxy.decide = decide;
    const child: ChildProcess = spawn(process.execPath, [ferryBin, ...flags(), ...args], {
      env: rig.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    try {
      for (let i = 0; i < 1200 && !(await ready()); i++) await sleep(25);
      child.kill(sig);
      // The signal is handled, not fatal: the CLI unwinds within a few seconds on its own.
      const code = await Promise.race([exited, sleep(20_000).then(() => 'hung' as const)]);
      if (code === 'hung') child.kill('SIGKILL');
      return { code, stderr };
    } finally {
      rig.proxy.decide = () => 'pass';
    }
  }

  it('Ctrl-C during a large upload keeps the multipart upload, says so; the same command resumes it', async () => {
    const data = randomBytes(30 * MiB);
    const file = join(rig.dir, 'big.bin');
    await fs.writeFile(file, data);
    const key = `${conn.prefix}/big.bin`;
    const url = `s3://${conn.bucket}/${key}`;
    const before = rig.proxy.answered.UploadPart ?? 0;
    const res = await interrupt(
      ['cp', '--no-progress', file, url],
      (r) => (r.op === 'UploadPart' ? { delayMs: 300 } : 'pass'),
      async () => (rig.proxy.answered.UploadPart ?? 0) - before >= 2,
      'SIGINT',
    );
    expect(res.code).toBe(130);
    expect(res.stderr).toMatch(/interrupted by SIGINT/);
    expect(res.stderr).toMatch(/kept the unfinished upload to s3:\/\/.*big\.bin: .* are in S3/);
    expect(res.stderr).toMatch(/run the same command again to resume it/);
    expect(res.stderr).toMatch(/ferry uploads abort s3:\/\/\S+big\.bin --upload-id \S+/);
    expect(await exists(key)).toBe(false);
    const open = await unfinished(key);
    expect(open).toHaveLength(1);
    expect(open[0]!.parts).toBeGreaterThanOrEqual(2);
    expect(await fs.readdir(join(rig.dir, 'state/uploads'))).toHaveLength(1);

    const rerun = await ferry([...flags(), 'cp', file, url], rig.env);
    expect(rerun.stderr).toMatch(/resumed an earlier upload/);
    expect(rerun.code).toBe(0);
    const got = await rig.client.send(new GetObjectCommand({ Bucket: conn.bucket, Key: key }));
    expect(sha(await readAll(got.Body as Readable))).toBe(sha(data));
    expect(await unfinished(key)).toEqual([]);
    expect(await fs.readdir(join(rig.dir, 'state/uploads'))).toEqual([]);
  });

  it('SIGTERM during a tree download removes the partial files, keeps the record; the same command finishes', async () => {
    const rels = ['a.bin', 'b.bin', 'sub/c.bin', 'sub/d.bin'];
    const data = new Map(rels.map((r) => [r, randomBytes(2 * MiB)]));
    for (const [rel, bytes] of data) {
      await rig.client.send(
        new PutObjectCommand({ Bucket: conn.bucket, Key: `${conn.prefix}/tree/${rel}`, Body: bytes }),
      );
    }
    const down = join(rig.dir, 'down');
    const args = [
      'cp',
      '-r',
      '--no-progress',
      '--concurrency',
      '2',
      `s3://${conn.bucket}/${conn.prefix}/tree`,
      down,
    ];
    const partials = async () => {
      const names = await fs.readdir(down, { recursive: true }).catch(() => [] as string[]);
      return names.filter((n) => /\.ferry-partial-/.test(n));
    };
    // Every GET sends its first 256 KiB, then stalls: partial files exist when the signal comes.
    const res = await interrupt(
      args,
      (r) => (r.op === 'GetObject' ? { stallAfterBytes: 256 * 1024 } : 'pass'),
      async () => (await partials()).length >= 1,
      'SIGTERM',
    );
    expect(res.code).toBe(143);
    expect(res.stderr).toMatch(/interrupted by SIGTERM/);
    expect(res.stderr).toMatch(/run the same command again to finish it/);
    expect(await partials()).toEqual([]);
    expect(await fs.readdir(join(rig.dir, 'state/copies'))).toHaveLength(1);

    const rerun = await ferry([...flags(), ...args], rig.env);
    expect(rerun.code).toBe(0);
    expect(rerun.stderr).toMatch(/continuing an interrupted copy/);
    for (const [rel, bytes] of data) expect(sha(await fs.readFile(join(down, rel)))).toBe(sha(bytes));
    expect((await fs.readdir(down, { recursive: true })).sort()).toEqual([...rels, 'sub'].sort());
    expect(await fs.readdir(join(rig.dir, 'state/copies'))).toEqual([]);
  });

  it('Ctrl-C during a large download keeps the partial file and says how to resume or discard it', async () => {
    const data = randomBytes(20 * MiB);
    const key = `${conn.prefix}/down.bin`;
    await rig.client.send(new PutObjectCommand({ Bucket: conn.bucket, Key: key, Body: data }));
    const dest = join(rig.dir, 'dl', 'copy.bin');
    await fs.mkdir(join(rig.dir, 'dl'));
    let gets = 0;
    // The HEAD and the first two ranged GETs pass; the others stall.
    const res = await interrupt(
      ['cp', '--no-progress', `s3://${conn.bucket}/${key}`, dest],
      (r) => (r.op === 'GetObject' && ++gets > 2 ? { stallAfterBytes: 0 } : 'pass'),
      async () => {
        const side = await fs.readFile(`${dest}.ferry-download.json`, 'utf8').catch(() => '');
        return side !== '' && JSON.parse(side).done.length >= 1;
      },
      'SIGINT',
    );
    expect(res.code).toBe(130);
    expect(res.stderr).toMatch(/kept the partial download .*copy\.bin\.ferry-download: /);
    expect(res.stderr).toMatch(/run the same command again to resume it/);
    expect((await fs.readdir(join(rig.dir, 'dl'))).sort()).toEqual([
      'copy.bin.ferry-download',
      'copy.bin.ferry-download.json',
    ]);

    const rerun = await ferry([...flags(), 'cp', `s3://${conn.bucket}/${key}`, dest], rig.env);
    expect(rerun.code).toBe(0);
    expect(rerun.stderr).toMatch(/resumed an interrupted download/);
    expect(sha(await fs.readFile(dest))).toBe(sha(data));
    expect(await fs.readdir(join(rig.dir, 'dl'))).toEqual(['copy.bin']);
  });
});
