import { createHash, randomBytes } from 'node:crypto';
import * as http from 'node:http';
import { GetObjectAclCommand, GetObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { createS3Client } from '../../src/s3/client.js';
import { parseConnection } from '../../src/s3/connection.js';
import { objectParamsFor } from '../../src/s3/object-params.js';
import { checkedStorage } from '../../src/storage/checked.js';
import { S3Storage } from '../../src/storage/s3/s3-storage.js';
import { collect, readAll } from '../support/collect.js';
import { startLoopback } from '../support/loopback.js';
import { testS3, testS3Storage } from '../support/s3.js';

const key32 = randomBytes(32);
const MiB = 1024 * 1024;

async function sha(stream: AsyncIterable<unknown>): Promise<string> {
  const h = createHash('sha256');
  for await (const c of stream) h.update(c as Buffer);
  return h.digest('hex');
}

describe('objectParamsFor', () => {
  it('SSE-KMS with a key id, ACL, class, Cache-Control and requester pays go on object creation', () => {
    const p = objectParamsFor(
      parseConnection({
        bucket: 'bkt',
        sse: 'aws:kms',
        sseKmsKeyId: 'k-1',
        acl: 'bucket-owner-full-control',
        storageClass: 'STANDARD_IA',
        cacheControl: 'max-age=60',
        requesterPays: true,
        metadata: { team: 'ops' },
      }),
    );
    expect(p.create).toEqual({
      ServerSideEncryption: 'aws:kms',
      SSEKMSKeyId: 'k-1',
      ACL: 'bucket-owner-full-control',
      StorageClass: 'STANDARD_IA',
      CacheControl: 'max-age=60',
      RequestPayer: 'requester',
    });
    expect(p.metadata).toEqual({ team: 'ops' });
    expect(p.read).toEqual({ RequestPayer: 'requester' });
    expect(p.copySource).toEqual({});
  });

  it('SSE-C (base64 or 32 raw characters) goes on create, every part, reads and copy sources', () => {
    for (const given of [key32.toString('base64'), 'k'.repeat(32)]) {
      const p = objectParamsFor(parseConnection({ bucket: 'bkt', sseCustomerKey: given }));
      const b64 = given.length === 32 ? Buffer.from(given).toString('base64') : given;
      expect(p.create).toEqual({ SSECustomerAlgorithm: 'AES256', SSECustomerKey: b64 });
      expect(p.part).toEqual({ SSECustomerAlgorithm: 'AES256', SSECustomerKey: b64 });
      expect(p.read).toEqual({ SSECustomerAlgorithm: 'AES256', SSECustomerKey: b64 });
      expect(p.copySource).toEqual({
        CopySourceSSECustomerAlgorithm: 'AES256',
        CopySourceSSECustomerKey: b64,
      });
    }
  });

  it('refuses contradictory or malformed settings at the boundary', () => {
    expect(() => parseConnection({ bucket: 'bkt', sseCustomerKey: 'short' })).toThrow(/32 bytes/);
    expect(() => parseConnection({ bucket: 'bkt', sseKmsKeyId: 'k' })).toThrow(/needs --sse aws:kms/);
    expect(() =>
      parseConnection({ bucket: 'bkt', sse: 'AES256', sseCustomerKey: key32.toString('base64') }),
    ).toThrow(/exclude each other/);
    expect(() =>
      parseConnection({ bucket: 'bkt', endpoint: 'http://127.0.0.1:7480', accelerate: true }),
    ).toThrow(/only on AWS/);
  });
});

describe('object settings on a real store (RGW)', () => {
  it('SSE-C: single PUT, multipart upload, HEAD, ranged read, copy and multipart copy all carry the key', async () => {
    const { storage, raw, client, conn } = await testS3Storage({
      sseCustomerKey: key32.toString('base64'),
      multipartCopyThreshold: 5 * MiB,
      multipartCopyPartSize: 5 * MiB,
    });
    raw.upload = { threshold: 5 * MiB, partSize: 5 * MiB, concurrency: 2, partAttempts: 1 };
    const small = randomBytes(1000);
    const big = randomBytes(12 * MiB + 17);
    await storage.write('small.bin', small);
    await storage.write('big.bin', big);
    expect((await storage.stat('big.bin')).size).toBe(big.length);
    expect(await sha(await storage.read('big.bin'))).toBe(createHash('sha256').update(big).digest('hex'));
    expect(await readAll(await storage.read('small.bin', { offset: 10, length: 5 }))).toEqual(
      small.subarray(10, 15),
    );
    // Really encrypted with our key: without it the store refuses to hand the object out.
    await expect(
      client.send(new GetObjectCommand({ Bucket: conn.bucket, Key: `${conn.prefix}/small.bin` })),
    ).rejects.toThrow();
    // Copies send the key twice (copy source + destination).
    await storage.copy!('big.bin', 'big-copy.bin'); // UploadPartCopy: 3 parts
    expect(await sha(await storage.read('big-copy.bin'))).toBe(
      createHash('sha256').update(big).digest('hex'),
    );
    await expect(
      client.send(new GetObjectCommand({ Bucket: conn.bucket, Key: `${conn.prefix}/big-copy.bin` })),
    ).rejects.toThrow();
    // Small objects too: RGW refuses CopyObject from an SSE-C source (501), so copyObject falls
    // back to a one-part UploadPartCopy.
    await storage.copy!('small.bin', 'small-copy.bin');
    expect(await readAll(await storage.read('small-copy.bin'))).toEqual(small);
    // Without the key, Ferry says what to do instead of "UnknownError".
    const keyless = checkedStorage(
      new S3Storage(createS3Client({ ...conn, sseCustomerKey: undefined }), {
        ...conn,
        sseCustomerKey: undefined,
      }),
    );
    await expect(keyless.stat('small.bin')).rejects.toMatchObject({
      code: 'InvalidArgument',
      message: expect.stringContaining('--sse-c-key'),
    });
    await raw.removeTree('');
  });

  it('default metadata, Cache-Control and a canned ACL are set on new objects', async () => {
    const { storage, raw, client, conn } = await testS3Storage({
      metadata: { team: 'ops' },
      cacheControl: 'max-age=60',
      acl: 'public-read',
    });
    await storage.write('a.txt', Buffer.from('a'), { metadata: { own: '1' } });
    const head = await client.send(
      new HeadObjectCommand({ Bucket: conn.bucket, Key: `${conn.prefix}/a.txt` }),
    );
    expect(head.Metadata).toMatchObject({ team: 'ops', own: '1' });
    expect(head.CacheControl).toBe('max-age=60');
    const acl = await client.send(
      new GetObjectAclCommand({ Bucket: conn.bucket, Key: `${conn.prefix}/a.txt` }),
    );
    expect(acl.Grants?.some((g) => g.Grantee?.URI?.endsWith('/AllUsers') && g.Permission === 'READ')).toBe(
      true,
    );
    await raw.removeTree('');
  });

  it('requester pays is accepted on every kind of call', async () => {
    const { storage } = await testS3Storage({ requesterPays: true });
    await storage.write('d/a.txt', Buffer.from('a'));
    expect((await storage.stat('d/a.txt')).size).toBe(1);
    expect((await collect(storage.list('d'))).map((e) => e.name)).toEqual(['a.txt']);
    await storage.rename!('d/a.txt', 'd/b.txt');
    await storage.removeTree!('d');
  });

  it('ListObjects v1 fallback lists and pages like V2', async () => {
    const { storage, raw, conn } = await testS3Storage({ listVersion: 1 });
    for (const n of ['a', 'b', 'c', 'sub/d']) await storage.write(n, Buffer.from(n));
    expect((await collect(storage.list(''))).map((e) => e.name)).toEqual(['a', 'b', 'c', 'sub']);
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await raw.listPage({ Prefix: `${conn.prefix}/`, MaxKeys: 1, ContinuationToken: token });
      keys.push(...(page.Contents ?? []).map((o) => o.Key!));
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    expect(keys.map((k) => k.slice(conn.prefix.length + 1))).toEqual(['a', 'b', 'c', 'sub/d']);
    await raw.removeTree('');
  });

  it('a store that answers 501 to ListObjectsV2 is switched to v1 by itself', async () => {
    const proxy = await startLoopback((req, res) => {
      if (req.method === 'GET' && /[?&]list-type=2/.test(req.url ?? '')) {
        v2Refused++;
        res.writeHead(501, { 'content-type': 'application/xml' });
        res.end('<?xml version="1.0"?><Error><Code>NotImplemented</Code></Error>');
        return;
      }
      const t = new URL(testS3().endpoint);
      const up = http.request(
        { host: t.hostname, port: t.port, method: req.method, path: req.url, headers: req.headers },
        (r) => {
          res.writeHead(r.statusCode ?? 502, r.headers);
          r.pipe(res);
        },
      );
      req.pipe(up);
    });
    let v2Refused = 0;
    const { storage, raw } = await testS3Storage({ endpoint: proxy.url });
    for (const n of ['a', 'b']) await storage.write(n, Buffer.from(n));
    expect((await collect(storage.list(''))).map((e) => e.name)).toEqual(['a', 'b']);
    expect((await collect(storage.list(''))).map((e) => e.name)).toEqual(['a', 'b']);
    // Asked once by the lean LIST (list-lean.ts), which hands the refusal to the SDK, which asks
    // once more and switches: then v1 for good.
    expect(v2Refused).toBe(2);
    await raw.removeTree('');
    await proxy.close();
  });
});
