import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import {
  CreateMultipartUploadCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Client } from '../../src/s3/client.js';
import { type UploadTuning, uploadObject } from '../../src/s3/upload.js';
import { UploadJournal } from '../../src/s3/upload-journal.js';
import { S3Storage } from '../../src/storage/s3/s3-storage.js';
import { objectExists, s3BehindFaultProxy, testConnection } from '../support/s3.js';
import { suiteFixture } from '../support/suite.js';

const MiB = 1024 * 1024;
const small: UploadTuning = { threshold: 5 * MiB, partSize: 5 * MiB, concurrency: 3, partAttempts: 2 };
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Record every S3 call the client makes (command name and the request-payer header on the wire). */
function recordCalls(client: S3Client) {
  const calls: { command: string; payer?: string }[] = [];
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const headers = (args.request as { headers?: Record<string, string> }).headers ?? {};
      calls.push({ command: context.commandName ?? '?', payer: headers['x-amz-request-payer'] });
      return next(args);
    },
    { step: 'finalizeRequest', name: 'ferryTestRecordCalls' },
  );
  return calls;
}

describe('upload hygiene (defects 8 and 9) on a real S3 server', () => {
  const conn = testConnection();
  const s3 = suiteFixture(() => s3BehindFaultProxy(conn));
  const key = (name: string) => `${conn.prefix}/${name}`;

  let stateDir: string;
  beforeAll(async () => {
    stateDir = await fs.mkdtemp(join(tmpdir(), 'ferry-journal-'));
  });
  afterAll(async () => {
    if (stateDir) await fs.rm(stateDir, { recursive: true, force: true });
  });

  /**
   * Run `fn` with an S3Storage through the proxy (small parts) whose resume journal is in
   * `stateDir` (FERRY_STATE_DIR); then the proxy passes everything again and the setting is put back.
   */
  async function withJournal(fn: (storage: S3Storage) => Promise<void>) {
    const prev = process.env.FERRY_STATE_DIR;
    process.env.FERRY_STATE_DIR = stateDir;
    const client = createS3Client({ ...conn, endpoint: s3.proxy.endpoint });
    try {
      const storage = new S3Storage(client, conn);
      storage.upload = small;
      await fn(storage);
    } finally {
      s3.proxy.decide = () => 'pass';
      client.destroy();
      if (prev === undefined) delete process.env.FERRY_STATE_DIR;
      else process.env.FERRY_STATE_DIR = prev;
    }
  }

  const leftovers = async (k: string) => {
    const res = await s3.direct.send(new ListMultipartUploadsCommand({ Bucket: conn.bucket, Prefix: k }));
    return (res.Uploads ?? []).filter((u) => u.Key === k);
  };
  const exists = (k: string) => objectExists(s3.direct, conn.bucket, k);

  it('defect 8: a multipart body that ends before its declared size leaves no object and no upload', async () => {
    const k = key('short-multipart.bin');
    const err = await uploadObject(
      s3.direct,
      { bucket: conn.bucket, key: k, body: Readable.from([randomBytes(12 * MiB)]), size: 20 * MiB },
      small,
    ).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'InvalidArgument' });
    expect(String((err as Error).message)).toMatch(/12582912 of 20971520 bytes/);
    expect(await exists(k)).toBe(false);
    expect(await leftovers(k)).toHaveLength(0);
  });

  it('defect 8: a small body that ends before its declared size is not stored', async () => {
    const k = key('short-small.bin');
    await expect(
      uploadObject(
        s3.direct,
        { bucket: conn.bucket, key: k, body: Readable.from([randomBytes(1000)]), size: 3000 },
        small,
      ),
    ).rejects.toMatchObject({ code: 'InvalidArgument' });
    expect(await exists(k)).toBe(false);
  });

  it('defect 8: a body longer than its declared size is refused too', async () => {
    const k = key('long-small.bin');
    await expect(
      uploadObject(
        s3.direct,
        { bucket: conn.bucket, key: k, body: Readable.from([randomBytes(7 * MiB)]), size: 6 * MiB },
        small,
      ),
    ).rejects.toMatchObject({ code: 'InvalidArgument' });
    expect(await exists(k)).toBe(false);
    expect(await leftovers(k)).toHaveLength(0);
  });

  it('defect 9: every multipart call carries RequestPayer (complete and abort included)', async () => {
    const client = createS3Client({ ...conn, endpoint: s3.proxy.endpoint });
    const calls = recordCalls(client);
    const storage = new S3Storage(client, { ...conn, requesterPays: true });
    storage.upload = small;
    const data = randomBytes(11 * MiB);
    await storage.write('payer/ok.bin', data, { size: data.length });
    // A failing upload: its abort must carry the header too.
    s3.proxy.decide = (r) =>
      r.op === 'UploadPart' && r.url.searchParams.get('partNumber') === '2' ? 'fail' : 'pass';
    try {
      await expect(storage.write('payer/fails.bin', data, { size: data.length })).rejects.toThrow();
    } finally {
      s3.proxy.decide = () => 'pass';
      client.destroy();
    }
    const multipart = calls.filter((c) => /Multipart|UploadPart/.test(c.command));
    const commands = new Set(multipart.map((c) => c.command));
    for (const c of [
      'CreateMultipartUploadCommand',
      'UploadPartCommand',
      'CompleteMultipartUploadCommand',
      'AbortMultipartUploadCommand',
    ])
      expect(commands).toContain(c);
    expect(multipart.filter((c) => c.payer !== 'requester')).toEqual([]);
  });

  it('defect 9: the resume journal is kept when the abort failed, so the upload can be found', async () => {
    await withJournal(async (storage) => {
      const data = randomBytes(11 * MiB);
      const path = 'journal/kept.bin';
      const source = { path: '/src/kept.bin', size: data.length, mtimeMs: 1 };
      s3.proxy.decide = (r) =>
        (r.op === 'UploadPart' && r.url.searchParams.get('partNumber') === '2') ||
        r.op === 'AbortMultipartUpload'
          ? 'fail'
          : 'pass';
      await expect(storage.write(path, data, { size: data.length, resumeSource: source })).rejects.toThrow();
      s3.proxy.decide = () => 'pass';
      const left = await leftovers(storage.keys.file(path));
      expect(left).toHaveLength(1);
      // The journal still names it: the next run finds (and here resumes) that very upload.
      const journal = new UploadJournal(conn.endpoint ?? 'aws', conn.bucket, storage.keys.file(path));
      const point = await journal.resumePoint(s3.direct, source);
      expect(point?.uploadId).toBe(left[0]!.UploadId);
      await storage.write(path, data, { size: data.length, resumeSource: source });
      expect(await leftovers(storage.keys.file(path))).toHaveLength(0);
    });
  });

  it('defect 9: a refused ListParts starts a fresh upload and aborts the old one', async () => {
    await withJournal(async (storage) => {
      const data = randomBytes(11 * MiB);
      const path = 'journal/listparts.bin';
      const k = storage.keys.file(path);
      const source = { path: '/src/listparts.bin', size: data.length, mtimeMs: 2 };
      // What a killed earlier run left: an upload with one part, recorded in the journal.
      const old = await s3.direct.send(new CreateMultipartUploadCommand({ Bucket: conn.bucket, Key: k }));
      await s3.direct.send(
        new UploadPartCommand({
          Bucket: conn.bucket,
          Key: k,
          UploadId: old.UploadId,
          PartNumber: 1,
          Body: data.subarray(0, 5 * MiB),
        }),
      );
      await new UploadJournal(conn.endpoint ?? 'aws', conn.bucket, k).record(old.UploadId!, 5 * MiB, source);
      s3.proxy.decide = (r) => (r.op === 'ListParts' ? 'deny' : 'pass');
      let result: { resumed: boolean } | undefined;
      await storage.write(path, data, {
        size: data.length,
        resumeSource: source,
        onUploaded: (r) => {
          result = r;
        },
      });
      expect(result?.resumed).toBe(false);
      expect(await leftovers(k)).toHaveLength(0); // the old upload was aborted
      const head = await s3.direct.send(new HeadObjectCommand({ Bucket: conn.bucket, Key: k }));
      expect(head.ContentLength).toBe(data.length);
      expect(sha(data)).toHaveLength(64);
    });
  });
});
