import { randomBytes } from 'node:crypto';
import type { SFTPWrapper } from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Actor } from '../../src/accounts/types.js';
import { testS3 } from '../support/s3.js';
import { exec, p, runScp, type SftpTestServer, sftpClient, startSftpServer } from '../support/sftp.js';

/**
 * Review of issue 9: what S3 says when it refuses (NoSuchBucket, InvalidAccessKeyId, AccessDenied)
 * never reaches an SFTP, SCP or exec client: no bucket, key prefix, access key or S3 error code in
 * status messages, scp warnings or stderr.
 */
const SYSTEM: Actor = { kind: 'system', name: 'system', role: 'admin' };
let server: SftpTestServer;
let sftp: SFTPWrapper;
let end: () => void;
const missingBucket = `ferry-review-gone-${randomBytes(4).toString('hex')}`;
const badKey = `FERRYREVIEW${randomBytes(4).toString('hex').toUpperCase()}`;
const prefix = `secret-prefix-${randomBytes(3).toString('hex')}`;

beforeAll(async () => {
  server = await startSftpServer();
  const s3 = testS3();
  const base = { endpoint: server.conn.endpoint, region: server.conn.region, noCheckBucket: true };
  const { accounts } = server.server;
  await accounts.connections.create(
    {
      name: 'gone',
      settings: {
        ...base,
        bucket: missingBucket,
        accessKeyId: s3.accessKeyId,
        secretAccessKey: s3.secretAccessKey,
      },
    },
    SYSTEM,
  );
  await accounts.connections.create(
    {
      name: 'badkey',
      settings: {
        ...base,
        bucket: server.conn.bucket,
        accessKeyId: badKey,
        secretAccessKey: 'not-the-secret-0123456789',
      },
    },
    SYSTEM,
  );
  for (const [path, connection] of [
    ['/gone', 'gone'],
    ['/denied', 'badkey'],
  ] as const) {
    await accounts.mounts.create(
      { owner: { user: 'alice' }, path, readOnly: false, target: { type: 's3', connection, prefix } },
      SYSTEM,
    );
  }
  ({ sftp, end } = await sftpClient(server, server.user));
}, 180_000);
afterAll(async () => {
  end?.();
  await server?.close();
});

/** What a client was told must name none of the store's own details. */
function expectClean(said: string): void {
  for (const secret of [missingBucket, badKey, prefix, server.conn.bucket, server.conn.prefix])
    expect(said).not.toContain(secret);
  expect(said).not.toMatch(/NoSuchBucket|InvalidAccessKeyId|AccessDenied|SignatureDoesNotMatch|s3:\/\/|arn:/);
}

async function refusal(call: Promise<unknown>): Promise<string> {
  try {
    await call;
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('expected a refusal');
}

describe('S3 refusals as clients see them (review)', () => {
  for (const mount of ['/gone', '/denied']) {
    it(`SFTP status messages from ${mount} name only the virtual path`, async () => {
      const said = [
        await refusal(p((cb) => sftp.readdir(mount, cb))),
        await refusal(p((cb) => sftp.stat(`${mount}/x.txt`, cb))),
        await refusal(p((cb) => sftp.open(`${mount}/x.txt`, 'r', cb))),
        await refusal(
          p<Buffer>((cb) => sftp.open(`${mount}/new.txt`, 'w', cb)).then(async (h) => {
            await p((cb) => sftp.write(h, Buffer.from('data'), 0, 4, 0, cb));
            await p((cb) => sftp.close(h, cb));
          }),
        ),
        await refusal(p((cb) => sftp.mkdir(`${mount}/d`, cb))),
        await refusal(p((cb) => sftp.unlink(`${mount}/x.txt`, cb))),
      ];
      for (const s of said) expectClean(s);
      expect(said.join('\n')).toContain(mount);
    }, 60_000);

    it(`scp -O and the hash commands on ${mount} warn with the virtual path only`, async () => {
      const get = await runScp(server, ['-O', `${server.destination}:${mount}/x.txt`, '/dev/null']);
      const put = await runScp(server, ['-O', '/etc/hostname', `${server.destination}:${mount}/up.txt`]);
      const hash = await exec('ssh', [...server.sshArgs, server.destination, 'sha256sum', `${mount}/x.txt`]);
      for (const r of [get, put, hash]) {
        expect(r.code).not.toBe(0);
        expectClean(r.stderr + r.stdout);
        expect(r.stderr).toContain(mount);
      }
    }, 60_000);
  }
});
