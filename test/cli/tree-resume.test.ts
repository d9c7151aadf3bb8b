import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import {
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { cliEnv, cliFaultRig, ferry, ferryBin } from '../support/cli.js';
import { readAll } from '../support/collect.js';
import { objectExists, testConnection, testS3, unfinishedUploads } from '../support/s3.js';
import { suiteFixture } from '../support/suite.js';

const MiB = 1024 * 1024;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/**
 * Issue 7 defect 12: `ferry cp -r ./kt s3://b/kt` killed with SIGKILL, then the same command run
 * again, must finish the first copy (not start a second one in `kt/kt/`) and resume or abort the
 * multipart uploads the killed run had started.
 */
describe('ferry cp -r killed with SIGKILL, run again', () => {
  const conn = testConnection();
  const rig = suiteFixture(() => cliFaultRig(conn, 'ferry-tree-resume-'));

  const flags = ['--part-size', '5MiB', '--multipart-threshold', '5MiB', '--part-concurrency', '2'];
  const keysUnder = async (prefix: string) => {
    const res = await rig.client.send(new ListObjectsV2Command({ Bucket: conn.bucket, Prefix: prefix }));
    // Files only (the folder marker cp -r makes for the target is not a file).
    return (res.Contents ?? [])
      .map((o) => o.Key!)
      .filter((k) => !k.endsWith('/'))
      .sort();
  };
  const unfinished = (prefix: string) => unfinishedUploads(rig.client, conn.bucket, prefix);

  /**
   * Let `child` (a ferry run through the proxy, its parts slowed) complete `completes` uploads,
   * refuse (never forward) its next CompleteMultipartUpload and every request after it, then
   * SIGKILL it once those `completes` are answered. Deterministic whatever the machine's speed:
   * the killed run cannot finish more files than that, and the file it was completing keeps its
   * parts in an unfinished upload. Resolves when the child is gone.
   */
  const killWhen = async (child: ChildProcess, completes: number) => {
    const exited = new Promise((r) => child.on('exit', r));
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const answered0 = rig.proxy.answered.CompleteMultipartUpload ?? 0;
    let sent = 0;
    let refusing = false;
    rig.proxy.decide = (r) => {
      if (!refusing && r.op === 'CompleteMultipartUpload' && ++sent > completes) refusing = true;
      if (refusing) return 'fail';
      return r.op === 'UploadPart' ? { delayMs: 250 } : 'pass';
    };
    let gone = false;
    void exited.then(() => {
      gone = true;
    });
    try {
      for (let i = 0; i < 2400 && !gone; i++) {
        if (refusing && (rig.proxy.answered.CompleteMultipartUpload ?? 0) - answered0 >= completes) break;
        await new Promise((r) => setTimeout(r, 25));
      }
      if (gone || !refusing)
        throw new Error(
          `the run did not reach the kill point (exit ${child.exitCode}, answered ${JSON.stringify(rig.proxy.answered)}): ${stderr}`,
        );
      child.kill('SIGKILL');
      await exited;
    } finally {
      rig.proxy.decide = () => 'pass';
    }
  };

  it('finishes the same tree, skips complete files, resumes the killed uploads, leaves no record', async () => {
    // 6 files of 11 MiB (3 parts each) in a tree: kt/f0…f3, kt/sub/f4, kt/sub/deeper/f5.
    const kt = join(rig.dir, 'kt');
    const rels = ['f0.bin', 'f1.bin', 'f2.bin', 'f3.bin', 'sub/f4.bin', 'sub/deeper/f5.bin'];
    const data = new Map<string, Buffer>();
    for (const rel of rels) {
      const bytes = randomBytes(11 * MiB);
      data.set(rel, bytes);
      await fs.mkdir(join(kt, rel, '..'), { recursive: true });
      await fs.writeFile(join(kt, rel), bytes);
    }
    const dest = `s3://${conn.bucket}/${conn.prefix}/kt`;
    const args = [
      '--endpoint',
      rig.proxy.endpoint,
      ...flags,
      'cp',
      '-r',
      '--no-progress',
      '--concurrency',
      '2',
    ];

    // Slow parts; kill once two files are complete and the next ones have parts in S3. The kill
    // is decided by the proxy on the first request after that point, and nothing is forwarded from
    // then on, so however fast the machine, the killed run cannot finish the tree.
    const child = spawn(process.execPath, [ferryBin, ...args, kt, dest], {
      env: rig.env,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    await killWhen(child, 2);
    // Which files the killed run completed, by HEAD (a store's listing may lag behind a
    // CompleteMultipartUpload under load). Two completes were answered, but a store may answer
    // one with an error (then the client's retry is refused by the proxy): at least one is done.
    const done: string[] = [];
    for (const rel of rels) {
      const key = `${conn.prefix}/kt/${rel}`;
      if (await objectExists(rig.client, conn.bucket, key)) done.push(key);
    }
    expect(done.length).toBeGreaterThanOrEqual(1);
    expect(done.length).toBeLessThan(rels.length);
    const left = await unfinished(`${conn.prefix}/`);
    expect(left.length).toBeGreaterThanOrEqual(1);
    const stamps = new Map<string, string>();
    for (const key of done) {
      const h = await rig.client.send(new HeadObjectCommand({ Bucket: conn.bucket, Key: key }));
      stamps.set(key, `${h.ETag} ${h.LastModified?.toISOString()}`);
    }
    // An upload the killed run began just before the kill, before its journal entry was written:
    // nothing can resume it; the run that finishes the copy must abort it.
    const stray = await rig.client.send(
      new CreateMultipartUploadCommand({ Bucket: conn.bucket, Key: `${conn.prefix}/kt/${rels[5]}` }),
    );
    await new Promise((r) => setTimeout(r, 1100)); // a re-upload would change LastModified

    const rerun = await ferry([...args, kt, dest], rig.env);
    expect(rerun.code).toBe(0);

    // One tree, at the first run's target, every file whole; nothing in kt/kt/.
    expect(await keysUnder(`${conn.prefix}/kt/kt/`)).toEqual([]);
    expect(await keysUnder(`${conn.prefix}/`)).toEqual(rels.map((r) => `${conn.prefix}/kt/${r}`).sort());
    for (const rel of rels) {
      const got = await rig.client.send(
        new GetObjectCommand({ Bucket: conn.bucket, Key: `${conn.prefix}/kt/${rel}` }),
      );
      expect(sha(await readAll(got.Body as Readable))).toBe(sha(data.get(rel)!));
    }
    expect(rerun.stderr).toMatch(/continuing an interrupted copy/);
    expect(rerun.stderr).toMatch(/resumed an earlier upload/);
    // The files complete before the kill were skipped, not sent again.
    for (const [key, stamp] of stamps) {
      const h = await rig.client.send(new HeadObjectCommand({ Bucket: conn.bucket, Key: key }));
      expect(`${h.ETag} ${h.LastModified?.toISOString()}`).toBe(stamp);
    }
    // No unfinished upload (the stray one aborted), no copy record. (An upload journal entry may
    // outlive its upload when the kill fell between CompleteMultipartUpload and its removal: it
    // names no upload any more, and the next cp of that file drops it.)
    expect(rerun.stderr).toMatch(/aborted [1-9]\d* unfinished writes the interrupted run had left/);
    expect((await unfinished(`${conn.prefix}/`)).map((u) => u.uploadId)).not.toContain(stray.UploadId);
    expect(await unfinished(`${conn.prefix}/`)).toEqual([]);
    expect(await fs.readdir(join(rig.dir, 'state/copies'))).toEqual([]);

    // The record is gone: the same command now does what cp(1) does with an existing folder.
    const again = await ferry(['--endpoint', testS3().endpoint, 'cp', '-r', join(kt, 'sub'), dest], rig.env);
    expect(again.code).toBe(0);
    expect(await keysUnder(`${conn.prefix}/kt/sub/`)).toContain(`${conn.prefix}/kt/sub/f4.bin`);
  });

  it('mv of a folder to S3 killed with SIGKILL: the same command finishes the move', async () => {
    const src = join(rig.dir, 'mvsrc');
    const rels = ['m0.bin', 'm1.bin', 'sub/m2.bin', 'sub/m3.bin'];
    const data = new Map<string, Buffer>();
    for (const rel of rels) {
      const bytes = randomBytes(11 * MiB);
      data.set(rel, bytes);
      await fs.mkdir(join(src, rel, '..'), { recursive: true });
      await fs.writeFile(join(src, rel), bytes);
    }
    const dest = `s3://${conn.bucket}/${conn.prefix}/moved`;
    const args = [
      '--endpoint',
      rig.proxy.endpoint,
      ...flags,
      'mv',
      '--no-progress',
      '--concurrency',
      '2',
      src,
      dest,
    ];
    // Its own state folder: a record the test before left (when it failed) is not this test's.
    const mvEnv = cliEnv({ FERRY_STATE_DIR: join(rig.dir, 'state-mv') });
    const child = spawn(process.execPath, [ferryBin, ...args], {
      env: mvEnv,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    await killWhen(child, 1);
    expect((await keysUnder(`${conn.prefix}/moved/`)).length).toBeLessThan(rels.length);

    const rerun = await ferry(args, mvEnv);
    expect(rerun.code).toBe(0);
    expect(rerun.stderr).toMatch(/continuing an interrupted move/);
    expect(await keysUnder(`${conn.prefix}/moved/`)).toEqual(
      rels.map((r) => `${conn.prefix}/moved/${r}`).sort(),
    );
    for (const rel of rels) {
      const got = await rig.client.send(
        new GetObjectCommand({ Bucket: conn.bucket, Key: `${conn.prefix}/moved/${rel}` }),
      );
      expect(sha(await readAll(got.Body as Readable))).toBe(sha(data.get(rel)!));
    }
    await expect(fs.stat(src)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await unfinished(`${conn.prefix}/moved/`)).toEqual([]);
    expect(await fs.readdir(join(rig.dir, 'state-mv/copies'))).toEqual([]);
  });

  it('cp -r from S3 to a local folder killed with SIGKILL: the rerun removes the partial files it left', async () => {
    const rels = ['a.bin', 'sub/b.bin', 'sub/c.bin'];
    const data = new Map(rels.map((r) => [r, randomBytes(2 * MiB)]));
    for (const [rel, bytes] of data) {
      await rig.client.send(
        new PutObjectCommand({ Bucket: conn.bucket, Key: `${conn.prefix}/down/${rel}`, Body: bytes }),
      );
    }
    const local = join(rig.dir, 'local-down');
    const args = [
      '--endpoint',
      rig.proxy.endpoint,
      'cp',
      '-r',
      '--no-progress',
      '--concurrency',
      '3',
      `s3://${conn.bucket}/${conn.prefix}/down`,
      local,
    ];
    const partials = async () =>
      (await fs.readdir(local, { recursive: true }).catch(() => [] as string[])).filter((n) =>
        /\.ferry-partial-/.test(n),
      );
    // Every GET sends its first 256 KiB, then stalls: the partial files exist at the kill.
    rig.proxy.decide = (r) => (r.op === 'GetObject' ? { stallAfterBytes: 256 * 1024 } : 'pass');
    const child = spawn(process.execPath, [ferryBin, ...args], { env: rig.env, stdio: 'ignore' });
    const exited = new Promise((r) => child.on('exit', r));
    try {
      for (let i = 0; i < 1200 && (await partials()).length < 2; i++)
        await new Promise((r) => setTimeout(r, 25));
      child.kill('SIGKILL');
      await exited;
    } finally {
      rig.proxy.decide = () => 'pass';
    }
    expect((await partials()).length).toBeGreaterThanOrEqual(2);

    const rerun = await ferry(args, rig.env);
    expect(rerun.code).toBe(0);
    expect(rerun.stderr).toMatch(/aborted [1-9]\d* unfinished writes the interrupted run had left/);
    expect(await partials()).toEqual([]);
    for (const [rel, bytes] of data) expect(sha(await fs.readFile(join(local, rel)))).toBe(sha(bytes));
    expect((await fs.readdir(local, { recursive: true })).sort()).toEqual([...rels, 'sub'].sort());
  });
});
