import { randomBytes } from 'node:crypto';
import { ListMultipartUploadsCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Client } from '../../src/s3/client.js';
import { checkedStorage } from '../../src/storage/checked.js';
import { S3Storage } from '../../src/storage/s3/s3-storage.js';
import type { Storage } from '../../src/storage/types.js';
import { readAll } from '../support/collect.js';
import { ensureBucket, testConnection } from '../support/s3.js';

const MiB = 1024 * 1024;

/** Count the calls a client makes and the bytes each kind of call sent (Content-Length). */
function recordCalls(client: S3Client) {
  const calls: { command: string; bytes: number }[] = [];
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const headers = (args.request as { headers?: Record<string, string> }).headers ?? {};
      calls.push({ command: context.commandName ?? '?', bytes: Number(headers['content-length'] ?? 0) });
      return next(args);
    },
    { step: 'finalizeRequest', name: 'ferryTestRecordUpdateCalls' },
  );
  const of = (name: string) => calls.filter((c) => c.command === `${name}Command`);
  return {
    count: (name: string) => of(name).length,
    bytes: (name: string) => of(name).reduce((n, c) => n + c.bytes, 0),
    reset: () => void calls.splice(0),
  };
}

describe('S3 write handle, update mode: what it costs on the wire (real S3 server)', () => {
  const conn = testConnection();
  let client: S3Client;
  let s: Storage;
  let rec: ReturnType<typeof recordCalls>;

  beforeAll(async () => {
    client = createS3Client(conn);
    await ensureBucket(client, conn.bucket);
    rec = recordCalls(client);
    const raw = new S3Storage(client, conn);
    raw.upload = { ...raw.upload, threshold: 5 * MiB, partSize: 5 * MiB, concurrency: 3, writeWindow: MiB };
    s = checkedStorage(raw);
  });
  afterAll(() => client?.destroy());

  const leftovers = async () =>
    (await client.send(new ListMultipartUploadsCommand({ Bucket: conn.bucket, Prefix: `${conn.prefix}/` })))
      .Uploads?.length ?? 0;
  const content = async (path: string) => readAll(await s.read(path));

  it('reput of an interrupted upload sends only the missing bytes: the rest is copied server-side', async () => {
    const data = randomBytes(20 * MiB + 777);
    const cut = 12 * MiB + 5; // where the earlier upload was interrupted
    await s.write('reput.bin', data.subarray(0, cut));
    rec.reset();
    const h = await s.openWrite!('reput.bin', { mode: 'update' });
    for (let at = cut; at < data.length; at += 32 * 1024)
      await h.write(at, data.subarray(at, Math.min(data.length, at + 32 * 1024)));
    await h.close();
    expect(rec.count('GetObject')).toBe(0); // nothing fetched
    expect(rec.count('UploadPartCopy')).toBeGreaterThanOrEqual(1);
    expect(rec.bytes('UploadPart')).toBe(data.length - cut); // nothing re-sent
    expect(Buffer.compare(await content('reput.bin'), data)).toBe(0);
    expect(await leftovers()).toBe(0);
  });

  it('overwrite from 0 then truncate (OpenSSH scp in place): nothing fetched, only the new bytes sent', async () => {
    const old = randomBytes(20 * MiB + 3);
    const fresh = randomBytes(12 * MiB + 11);
    await s.write('over-cut.bin', old);
    rec.reset();
    const h = await s.openWrite!('over-cut.bin', { mode: 'update' });
    for (let at = 0; at < fresh.length; at += 255 * 1024)
      await h.write(at, fresh.subarray(at, Math.min(fresh.length, at + 255 * 1024)));
    await h.truncate!(fresh.length);
    await h.close();
    expect(rec.count('GetObject')).toBe(0); // the old bytes, overwritten or cut, never fetched
    expect(rec.bytes('UploadPart')).toBe(fresh.length);
    expect(Buffer.compare(await content('over-cut.bin'), fresh)).toBe(0);
    // Without the truncate the old tail stays: one ranged GET of just the tail at close.
    rec.reset();
    const k = await s.openWrite!('over-cut.bin', { mode: 'update' });
    const head = randomBytes(6 * MiB);
    for (let at = 0; at < head.length; at += 255 * 1024)
      await k.write(at, head.subarray(at, Math.min(head.length, at + 255 * 1024)));
    await k.close();
    expect(rec.count('GetObject')).toBe(1);
    const want = Buffer.from(fresh);
    head.copy(want);
    expect(Buffer.compare(await content('over-cut.bin'), want)).toBe(0);
    expect(await leftovers()).toBe(0);
  });

  it('a write over existing bytes after streaming began (nothing of the caller sent yet) switches to a staged copy', async () => {
    const old = randomBytes(12 * MiB);
    await s.write('switch.bin', old);
    const want = Buffer.concat([old, Buffer.alloc(300 * 1024)]);
    const h = await s.openWrite!('switch.bin', { mode: 'update' });
    const tail = randomBytes(200 * 1024);
    await h.write(old.length, tail); // streams: UploadPartCopy of the existing bytes
    tail.copy(want, old.length);
    const ahead = randomBytes(50 * 1024);
    await h.write(old.length + 250 * 1024, ahead); // pending, ahead of the stream
    ahead.copy(want, old.length + 250 * 1024);
    rec.reset();
    const patch = randomBytes(1000);
    await h.write(100, patch); // over existing bytes: fetched once, staged
    patch.copy(want, 100);
    expect(rec.count('GetObject')).toBe(1);
    expect(Buffer.compare(await h.read!(0, want.length), want)).toBe(0);
    await h.close();
    expect(Buffer.compare(await content('switch.bin'), want)).toBe(0);
    expect(await leftovers()).toBe(0);
  });

  it('a write behind bytes already sent in parts is refused (NotSupported), the old file stays, nothing is left', async () => {
    const old = randomBytes(6 * MiB);
    await s.write('refused.bin', old);
    const h = await s.openWrite!('refused.bin', { mode: 'update' });
    const more = randomBytes(12 * MiB);
    for (let at = 0; at < more.length; at += MiB) await h.write(old.length + at, more.subarray(at, at + MiB));
    // Reads are still served where the bytes are at hand: the existing object, the part being filled.
    expect(Buffer.compare(await h.read!(10, 1000), old.subarray(10, 1010))).toBe(0);
    const end = old.length + more.length;
    expect(Buffer.compare(await h.read!(end - 1000, 5000), more.subarray(more.length - 1000))).toBe(0);
    await expect(h.read!(old.length, 10)).rejects.toMatchObject({ code: 'NotSupported' });
    const err = await h.write(0, Buffer.from('x')).then(
      () => undefined,
      (e: Error & { code?: string }) => e,
    );
    expect(err?.code).toBe('NotSupported');
    expect(err?.message).toMatch(/already uploaded.*write this file from the start/);
    expect(err?.message).not.toContain(conn.bucket);
    await expect(h.close()).rejects.toMatchObject({ code: 'InvalidArgument' }); // the failed write aborted it
    expect(Buffer.compare(await content('refused.bin'), old)).toBe(0);
    expect(await leftovers()).toBe(0);
  });
});
