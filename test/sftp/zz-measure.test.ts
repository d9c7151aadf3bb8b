import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'vitest';
import { aws } from '../support/aws-cli.js';
import { startSftpServer } from '../support/sftp.js';
import { sftpBatch } from './sftp-support.js';

it('measure 1 GiB put/get', async () => {
  const server = await startSftpServer();
  const dir = mkdtempSync(join(tmpdir(), 'ferry-measure-'));
  execFileSync('dd', ['if=/dev/urandom', `of=${join(dir, 'g.bin')}`, 'bs=1M', 'count=1024', 'status=none']);
  const GiB = 1024;
  const out: string[] = [];
  for (let round = 0; round < 2; round++) {
    let t = performance.now();
    const up = await sftpBatch(server, server.user, ['put g.bin g.bin'], { cwd: dir });
    const upS = (performance.now() - t) / 1000;
    t = performance.now();
    const down = await sftpBatch(server, server.user, ['get g.bin g.back'], { cwd: dir });
    const downS = (performance.now() - t) / 1000;
    rmSync(join(dir, 'g.back'));
    t = performance.now();
    await aws('s3', 'cp', join(dir, 'g.bin'), `s3://${server.conn.bucket}/${server.conn.prefix}/aws/g.bin`);
    const awsUp = (performance.now() - t) / 1000;
    t = performance.now();
    await aws('s3', 'cp', `s3://${server.conn.bucket}/${server.conn.prefix}/aws/g.bin`, join(dir, 'a.back'));
    const awsDown = (performance.now() - t) / 1000;
    rmSync(join(dir, 'a.back'));
    out.push(
      `round ${round}: sftp put ${(GiB / upS).toFixed(0)} MiB/s (rc ${up.code}), get ${(GiB / downS).toFixed(0)} MiB/s (rc ${down.code}); aws s3 cp up ${(GiB / awsUp).toFixed(0)} MiB/s, down ${(GiB / awsDown).toFixed(0)} MiB/s`,
    );
  }
  console.log(`MEASURE\n${out.join('\n')}`);
  rmSync(dir, { recursive: true });
  await server.close();
}, 600_000);
