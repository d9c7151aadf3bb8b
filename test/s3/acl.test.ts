import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { GetObjectCommand, ListBucketsCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Client } from '../../src/s3/client.js';
import { ferry, requireBuiltCli } from '../support/cli.js';
import { ensureBucket, secondUser, testConnection, testS3 } from '../support/s3.js';

const status = async (url: string) =>
  (await promisify(execFile)('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', url])).stdout;

/**
 * Issue 10 item 4 on RGW: `ferry acl` shows owner and grants; `acl set --canned` and `--grant`
 * replace them; what each grant allows is checked with anonymous curl and with the second RGW user.
 */
describe('ferry acl', () => {
  const conn = testConnection();
  const key = `${conn.prefix}/f.txt`;
  const url = `s3://${conn.bucket}/${key}`;
  const plain = () => `${testS3().endpoint}/${conn.bucket}/${key}`;
  let client: S3Client;
  let other: S3Client;
  let otherId: string;
  beforeAll(async () => {
    client = createS3Client(conn);
    await ensureBucket(client, conn.bucket);
    await client.send(new PutObjectCommand({ Bucket: conn.bucket, Key: key, Body: 'acl test' }));
    other = createS3Client({ ...conn, ...secondUser() });
    otherId = (await other.send(new ListBucketsCommand({}))).Owner?.ID ?? '';
    await requireBuiltCli();
  });
  afterAll(() => {
    client?.destroy();
    other?.destroy();
  });
  const otherCanRead = () =>
    other.send(new GetObjectCommand({ Bucket: conn.bucket, Key: key })).then(
      () => true,
      () => false,
    );

  it('shows the owner and grants; a canned ACL opens the object to anonymous readers', async () => {
    const shown = JSON.parse((await ferry(['acl', '--json', url])).stdout);
    expect(shown.owner.id).toBeTruthy();
    expect(shown.grants).toEqual([
      expect.objectContaining({ permission: 'FULL_CONTROL', grantee: `id:${shown.owner.id}` }),
    ]);
    expect(await status(plain())).toBe('403');
    expect((await ferry(['acl', 'set', url, '--canned', 'public-read'])).code).toBe(0);
    expect(await status(plain())).toBe('200');
    expect((await ferry(['acl', url])).stdout).toMatch(/^READ\s+group:all-users$/m);
    expect((await ferry(['acl', 'set', url, '--canned', 'private'])).code).toBe(0);
    expect(await status(plain())).toBe('403');
  });

  it('explicit grants: a canonical user may read, nobody else', async () => {
    expect(otherId).toBeTruthy();
    expect(await otherCanRead()).toBe(false);
    const owner = JSON.parse((await ferry(['acl', '--json', url])).stdout).owner.id;
    const r = await ferry([
      'acl',
      'set',
      url,
      '--grant',
      `read=id:${otherId}`,
      '--grant',
      `full-control=id:${owner}`,
    ]);
    expect(r.code).toBe(0);
    expect(await otherCanRead()).toBe(true);
    expect(await status(plain())).toBe('403');
  });

  it('bad grants are refused before anything changes', async () => {
    const before = (await ferry(['acl', '--json', url])).stdout;
    for (const bad of ['read=foo', 'browse=group:all-users', 'read=group:everyone', 'read']) {
      const r = await ferry(['acl', 'set', url, '--grant', `full-control=id:x`, '--grant', bad]);
      expect(r.code, bad).toBe(2);
    }
    expect((await ferry(['acl', 'set', url, '--canned', 'nope'])).code).toBe(2);
    expect((await ferry(['acl', 'set', url])).code).toBe(2);
    const unknownUser = await ferry(['acl', 'set', url, '--grant', 'read=id:no-such-user-here']);
    expect(unknownUser.code).toBe(2);
    expect((await ferry(['acl', '--json', url])).stdout).toBe(before);
  });

  it('shows a bucket ACL', async () => {
    const r = await ferry(['acl', `s3://${conn.bucket}`]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^FULL_CONTROL\s+id:/m);
  });
});
