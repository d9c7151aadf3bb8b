import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HomeInS3, type SftpTestServer, sftpBatch, startSftpServer } from '../support/sftp.js';

describe('big folders over SFTP (OpenSSH sftp on RGW)', () => {
  let server: SftpTestServer;
  let s3: HomeInS3;
  const names = Array.from({ length: 1000 }, (_, i) => `file-${String(i).padStart(4, '0')}.txt`);

  beforeAll(async () => {
    server = await startSftpServer();
    s3 = new HomeInS3(server);
    for (let i = 0; i < names.length; i += 50) {
      await Promise.all(
        names.slice(i, i + 50).map((n) =>
          s3.client.send(
            new PutObjectCommand({
              Bucket: server.conn.bucket,
              Key: s3.key('alice', `src/sub/${n}`),
              Body: n,
            }),
          ),
        ),
      );
    }
  });
  afterAll(async () => {
    await server?.close();
  });

  it('ls -l lists all 1,000 entries (several READDIR replies), then rename moves the folder whole', async () => {
    const ls = await sftpBatch(server, server.user, ['ls -l src/sub']);
    expect(ls.code).toBe(0);
    const lines = ls.stdout.split('\n').filter((l) => l.startsWith('-rw-r--r--'));
    expect(lines).toHaveLength(1000);
    expect(lines[0]).toMatch(/ 13 \w{3} [ \d]\d \d\d:\d\d file-0000\.txt$/);

    const mv = await sftpBatch(server, server.user, ['rename src dst', 'ls dst/sub/file-0999.txt']);
    expect(mv.stderr).toBe('');
    expect(mv.code).toBe(0);
    const keys = await s3.keys('alice');
    expect(keys.filter((k) => k.startsWith('src/'))).toEqual([]);
    expect(keys.filter((k) => k.startsWith('dst/sub/'))).toEqual(names.map((n) => `dst/sub/${n}`));
    expect(await s3.multipartUploads()).toBe(0);
  });
});
