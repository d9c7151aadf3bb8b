import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Client } from '../../src/s3/client.js';
import { checkedStorage } from '../../src/storage/checked.js';
import { LocalStorage } from '../../src/storage/local/local-storage.js';
import { ferry, requireBuiltCli } from '../support/cli.js';
import { ensureBucket, testConnection, testS3 } from '../support/s3.js';

/**
 * A named pipe (or socket, or device) inside a folder being copied: opening it for reading waits
 * for a writer that never comes, so `ferry sync` hung for ever (found as a newcomer, session 6).
 * A tree walk must carry every name or say which one it cannot: the pipe is an error naming it.
 */
describe('a named pipe in a tree being copied', () => {
  let root: string;
  beforeAll(async () => {
    await requireBuiltCli();
    root = await mkdtemp(join(tmpdir(), 'ferry-fifo-'));
    await mkdir(join(root, 'src/sub'), { recursive: true });
    await writeFile(join(root, 'src/a.txt'), 'a\n');
    await writeFile(join(root, 'src/sub/b.txt'), 'b\n');
    execFileSync('mkfifo', [join(root, 'src/sub/pipe')]);
  });
  afterAll(async () => {
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('a recursive listing fails naming the pipe; a plain one still shows the folder', async () => {
    const storage = checkedStorage(new LocalStorage(root));
    const walk = async () => {
      for await (const _ of storage.list('src', { recursive: true })) void _;
    };
    await expect(walk()).rejects.toMatchObject({ code: 'InvalidArgument', path: 'src/sub/pipe' });
    const names: string[] = [];
    for await (const e of storage.list('src', {})) names.push(e.path);
    expect(names.sort()).toEqual(['src/a.txt', 'src/sub']);
  });

  it('ferry sync of the folder ends with an error naming the pipe instead of waiting for ever', async () => {
    const r = await ferry(['sync', join(root, 'src'), join(root, 'dst')]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('pipe');
    expect(r.stderr).toMatch(/not a regular file/);
    // Nothing half-copied under the destination's real names.
    await expect(readFile(join(root, 'dst/sub/pipe'))).rejects.toMatchObject({ code: 'ENOENT' });
  }, 60_000);

  it('ferry cp of a named pipe copies what its writer wrote, to a local file and to S3 (it read as empty)', async () => {
    const data = randomBytes(3 * 1024 * 1024 + 17);
    await writeFile(join(root, 'data.bin'), data);
    const fifo = join(root, 'cp-pipe');
    execFileSync('mkfifo', [fifo]);
    const feed = () => spawn('sh', ['-c', `cat '${join(root, 'data.bin')}' > '${fifo}'`]);
    feed();
    const local = await ferry(['cp', fifo, join(root, 'from-pipe.bin')]);
    expect(local.code, local.stderr).toBe(0);
    expect((await readFile(join(root, 'from-pipe.bin'))).equals(data)).toBe(true);

    const conn = testConnection();
    const client = createS3Client(conn);
    try {
      await ensureBucket(client, conn.bucket);
      const key = `${conn.prefix}/from-pipe.bin`;
      feed();
      const up = await ferry(['--endpoint', testS3().endpoint, 'cp', fifo, `s3://${conn.bucket}/${key}`]);
      expect(up.code, up.stderr).toBe(0);
      const got = await client.send(new GetObjectCommand({ Bucket: conn.bucket, Key: key }));
      expect(Buffer.from(await got.Body!.transformToByteArray()).equals(data)).toBe(true);
    } finally {
      client.destroy();
    }
  }, 60_000);
});
