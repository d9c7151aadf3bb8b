import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processBudget } from '../../src/s3/buffer-budget.js';
import { HomeInS3, type SftpTestServer, sftpBatch, startSftpServer } from '../support/sftp.js';

const MiB = 1024 * 1024;
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('SFTP uploads share one memory budget (issue 9: memory under concurrent uploads)', () => {
  let server: SftpTestServer;
  let s3: HomeInS3;
  const limit = 16 * MiB; // one part buffer (16 MiB parts): the 20 uploads take turns
  let before: number;

  beforeAll(async () => {
    server = await startSftpServer();
    s3 = new HomeInS3(server);
    before = processBudget.limit;
    processBudget.setLimit(limit);
  });
  afterAll(async () => {
    processBudget.setLimit(before);
    await server?.close();
  });

  it('20 OpenSSH uploads at once through a 16 MiB budget: all byte-identical, the WRITEs waiting on the server charged to the budget, nothing left held', async () => {
    const local = mkdtempSync(join(tmpdir(), 'ferry-sftp-mem-'));
    const files = Array.from({ length: 20 }, (_, i) => {
      const body = randomBytes(i < 4 ? 20 * MiB : 5 * MiB); // 4 multipart, 16 single PutObjects
      writeFileSync(join(local, `f${i}.bin`), body);
      return { name: `f${i}.bin`, sum: sha(body) };
    });
    const fresh = processBudget.freshBuffers;
    const runs = await Promise.all(
      files.map((f) => sftpBatch(server, server.user, [`put ${f.name} ${f.name}`], { cwd: local })),
    );
    for (const r of runs) expect(r.stderr).toBe('');
    expect(runs.map((r) => r.code)).toEqual(files.map(() => 0));
    for (const f of files) {
      const res = await s3.client.send(
        new GetObjectCommand({ Bucket: server.conn.bucket, Key: s3.key('alice', f.name) }),
      );
      expect(sha(await res.Body!.transformToByteArray())).toBe(f.sum);
    }
    // WRITE bytes waiting for their handles were counted in the same budget as the part buffers
    // (before, they were held outside it: up to 32 MiB per channel).
    expect(processBudget.chargedPeak).toBeGreaterThan(0);
    // Part buffers (≤ the limit) plus what clients could still send after their channel paused:
    // at most one SSH window (2 MiB) and a WRITE per channel.
    expect(processBudget.peak).toBeLessThanOrEqual(limit + 20 * (2 * MiB + 256 * 1024));
    // One 16 MiB part buffer served every upload in turn: a released one goes to the upload
    // waiting for it, even with WRITE bytes charged (before, each was dropped to the GC and a new
    // one allocated: ~1 per part, resident until a full GC).
    expect(processBudget.freshBuffers - fresh).toBeLessThanOrEqual(1);
    expect(processBudget.held).toBe(0);
    expect(await s3.multipartUploads()).toBe(0);
  }, 240_000); // 160 MB through one 16 MiB buffer at a time: ~36 s at load 20
});
