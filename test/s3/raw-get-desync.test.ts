import { randomBytes } from 'node:crypto';
import * as net from 'node:net';
import type { S3Client } from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createS3Client } from '../../src/s3/client.js';
import { s3ConnectionSchema } from '../../src/s3/connection-schema.js';
import { getRangeInto, rawGetStats } from '../../src/s3/raw-get.js';

const KiB = 1024;
const OBJECT = randomBytes(512 * KiB);
const answer = (from: number, body: Buffer) =>
  Buffer.concat([
    Buffer.from(
      'HTTP/1.1 206 Partial Content\r\n' +
        `Content-Length: ${body.length}\r\nContent-Range: bytes ${from}-${from + body.length - 1}/${OBJECT.length}\r\n\r\n`,
      'latin1',
    ),
    body,
  ]);

/** What the broken store adds to the answer of a range: bytes in the same write, or later. */
interface Misdeed {
  glued?: Buffer;
  late?: { bytes: Buffer; afterMs: number };
}

/**
 * A store of the test's own on 127.0.0.1 (a raw TCP server, so it can do what node:http never
 * would): it answers ranged GETs of OBJECT with a 206 and, as `misdeed` says, sends more bytes
 * after the body than its Content-Length. Every request is recorded with its connection's number.
 */
async function startBrokenStore() {
  const seen: { conn: number; range: string }[] = [];
  let conns = 0;
  const store = {
    seen,
    misdeed: (_range: string): Misdeed => ({}),
    port: 0,
    server: net.createServer((socket) => {
      const conn = ++conns;
      let pending = Buffer.alloc(0);
      socket.on('error', () => {});
      socket.on('data', (chunk) => {
        pending = Buffer.concat([pending, chunk]);
        for (let end = pending.indexOf('\r\n\r\n'); end >= 0; end = pending.indexOf('\r\n\r\n')) {
          const head = pending.toString('latin1', 0, end);
          pending = pending.subarray(end + 4);
          const range = /^range: (.*)$/im.exec(head)?.[1] ?? '';
          seen.push({ conn, range });
          const [from, to] = (/^bytes=(\d+)-(\d+)$/.exec(range) ?? []).slice(1).map(Number);
          const what = store.misdeed(range);
          socket.write(
            Buffer.concat([answer(from!, OBJECT.subarray(from, to! + 1)), what.glued ?? Buffer.alloc(0)]),
          );
          if (what.late) setTimeout(() => socket.write(what.late!.bytes), what.late.afterMs);
        }
      });
    }),
  };
  await new Promise<void>((r) => store.server.listen(0, '127.0.0.1', r));
  store.port = (store.server.address() as net.AddressInfo).port;
  return store;
}

/**
 * raw-get.ts reads answers on kept connections with its own reader. A store (or a middlebox) that
 * sends more than it said — bytes after the body, a second answer glued on — must never put those
 * bytes in a part nor have them taken for the answer to the next request on that connection.
 */
describe('raw ranged GETs against a store that sends more than its Content-Length', () => {
  let store: Awaited<ReturnType<typeof startBrokenStore>>;
  let client: S3Client;
  const A = { from: 0, size: 64 * KiB };
  const B = { from: 64 * KiB, size: 192 * KiB };
  const get = (r: { from: number; size: number }, fill = 7) => {
    const into = Buffer.alloc(r.size, fill);
    return getRangeInto(client, { Bucket: 'bkt', Key: 'obj' }, r.from, into).then((got) => ({ got, into }));
  };
  const rangeOf = (r: { from: number; size: number }) => `bytes=${r.from}-${r.from + r.size - 1}`;
  const right = (r: { from: number; size: number }) => OBJECT.subarray(r.from, r.from + r.size);

  beforeAll(async () => {
    store = await startBrokenStore();
  });
  // A client (and so a pool of kept connections) per test: one test's leftovers are not the next's.
  beforeEach(() => {
    const conn = s3ConnectionSchema.parse({
      bucket: 'bkt',
      endpoint: `http://127.0.0.1:${store.port}`,
      region: 'us-east-1',
      accessKeyId: 'AKIDEXAMPLE',
      secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
    });
    client = createS3Client(conn, { ...process.env, FERRY_S3_IDLE_SECONDS: '2' });
  });
  afterEach(() => {
    store.misdeed = () => ({});
    client.destroy();
  });
  afterAll(() => {
    store?.server.close();
  });

  it('answers on one kept connection when the store behaves (the case the guards must not cost)', async () => {
    const before = { ...rawGetStats };
    const seen = store.seen.length;
    const a = await get(A);
    const b = await get(B);
    expect(a.got).toEqual({ got: A.size });
    expect(b.got).toEqual({ got: B.size });
    expect(a.into.equals(right(A))).toBe(true);
    expect(b.into.equals(right(B))).toBe(true);
    const conns = store.seen.slice(seen).map((s) => s.conn);
    expect(conns[0]).toBe(conns[1]);
    expect(rawGetStats.reused - before.reused).toBe(1);
  });

  it("a second answer glued after the body, for exactly the next range, is not taken for that range's answer", async () => {
    // The glued answer's body is all 0xEE: the part B must hold the object's bytes, not those.
    store.misdeed = (range) =>
      range === rangeOf(A) ? { glued: answer(B.from, Buffer.alloc(B.size, 0xee)) } : {};
    const before = { ...rawGetStats };
    const seen = store.seen.length;
    const a = await get(A);
    const b = await get(B); // at once, as a download's next part is asked for
    expect(a.into.equals(right(A))).toBe(true);
    expect(b.got).toEqual({ got: B.size });
    expect(b.into.equals(right(B))).toBe(true);
    // B was asked again on a fresh connection: the one with bytes after its body was not reused.
    const asked = store.seen.slice(seen);
    expect(asked.map((s) => s.range)).toEqual([rangeOf(A), rangeOf(B)]);
    expect(asked[1]!.conn).not.toBe(asked[0]!.conn);
    expect(rawGetStats.handedToSdk - before.handedToSdk).toBe(0);
  });

  it('bytes after the body (more than Content-Length) land in no part and do not end the next GET', async () => {
    store.misdeed = (range) => (range === rangeOf(A) ? { glued: Buffer.from('#'.repeat(3000)) } : {});
    const before = { ...rawGetStats };
    const seen = store.seen.length;
    const a = await get(A);
    const b = await get(B, 0x23); // filled with '#': a part keeping its fill would pass unnoticed
    expect(a.into.equals(right(A))).toBe(true);
    expect(b.got).toEqual({ got: B.size });
    expect(b.into.equals(right(B))).toBe(true);
    const asked = store.seen.slice(seen);
    expect(asked[1]!.conn).not.toBe(asked[0]!.conn);
    expect(rawGetStats.handedToSdk - before.handedToSdk).toBe(0);
  });

  it('a small answer read whole with its head, and bytes after it in the same read: handed to the SDK, the connection dropped', async () => {
    const small = { from: 1000, size: 1000 };
    store.misdeed = (range) =>
      range === rangeOf(small) ? { glued: answer(B.from, Buffer.alloc(B.size, 0xee)) } : {};
    const before = { ...rawGetStats };
    const seen = store.seen.length;
    const a = await get(small);
    expect(a.got).toBeUndefined(); // the caller asks the SDK; nothing in `into` is trusted then
    expect(rawGetStats.handedToSdk - before.handedToSdk).toBe(1);
    const b = await get(B);
    expect(b.got).toEqual({ got: B.size });
    expect(b.into.equals(right(B))).toBe(true);
    const asked = store.seen.slice(seen);
    expect(asked.map((x) => x.range)).toEqual([rangeOf(small), rangeOf(B)]);
    expect(asked[1]!.conn).not.toBe(asked[0]!.conn);
  });

  it('bytes arriving after the body while the connection is idle close it: the next GET goes on a fresh one', async () => {
    const late = answer(B.from, Buffer.alloc(B.size, 0xee));
    store.misdeed = (range) => (range === rangeOf(A) ? { late: { bytes: late, afterMs: 100 } } : {});
    const seen = store.seen.length;
    const a = await get(A);
    await new Promise((r) => setTimeout(r, 300));
    const b = await get(B);
    expect(a.into.equals(right(A))).toBe(true);
    expect(b.got).toEqual({ got: B.size });
    expect(b.into.equals(right(B))).toBe(true);
    const asked = store.seen.slice(seen);
    expect(asked[1]!.conn).not.toBe(asked[0]!.conn);
  });
});
