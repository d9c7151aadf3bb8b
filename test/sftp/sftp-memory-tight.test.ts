import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processBudget } from '../../src/s3/buffer-budget.js';
import { HomeInS3, runScp, type SftpTestServer, sftpBatch, startSftpServer } from '../support/sftp.js';

const MiB = 1024 * 1024;
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/**
 * Liveness with a budget smaller than one part (issue 9, session 8): the pause at a sixteenth of
 * the budget (512 KiB here), the 256 KiB windows while memory is tight and the reused packet
 * buffers must not stall uploads that wait on each other's part buffers.
 */
describe('SFTP and scp uploads through an 8 MiB budget', () => {
  let server: SftpTestServer;
  let s3: HomeInS3;
  let before: number;
  beforeAll(async () => {
    server = await startSftpServer();
    s3 = new HomeInS3(server);
    before = processBudget.limit;
    processBudget.setLimit(8 * MiB);
  });
  afterAll(async () => {
    processBudget.setLimit(before);
    await server?.close();
  });

  it('8 sftp puts and 4 scp -O uploads at once all finish, byte-identical, nothing left held', async () => {
    const local = mkdtempSync(join(tmpdir(), 'ferry-sftp-tight-'));
    const files = Array.from({ length: 12 }, (_, i) => {
      const body = randomBytes(20 * MiB + 1000 * i); // multipart: 16 MiB parts, larger than the budget
      writeFileSync(join(local, `t${i}.bin`), body);
      return { name: `t${i}.bin`, sum: sha(body) };
    });
    const runs = await Promise.all(
      files.map((f, i) =>
        i < 8
          ? sftpBatch(server, server.user, [`put ${f.name} ${f.name}`], { cwd: local })
          : runScp(server, ['-O', '-q', join(local, f.name), `${server.destination}:/${f.name}`]),
      ),
    );
    for (const r of runs) expect(r.stderr).toBe('');
    expect(runs.map((r) => r.code)).toEqual(files.map(() => 0));
    for (const f of files) {
      const res = await s3.client.send(
        new GetObjectCommand({ Bucket: server.conn.bucket, Key: s3.key('alice', f.name) }),
      );
      expect(sha(await res.Body!.transformToByteArray()), f.name).toBe(f.sum);
    }
    expect(processBudget.held).toBe(0);
    expect(await s3.multipartUploads()).toBe(0);
  }, 240_000);
});
