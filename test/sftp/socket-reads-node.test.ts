import * as net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  IDLE_SIZE,
  READ_SIZE,
  reuseSocketReads,
  socketReads,
} from '../../src/protocols/sftp/socket-reads.js';

/**
 * socket-reads.ts takes over an accepted socket's reads through Node's net internals
 * (`_handle.useUserBuffer`, the kBuffer/kBufferCb/kBufferGen fields `onStreamRead` reads). Checked
 * here on whatever Node runs the tests (20, 22, 24: scripts/node-matrix.sh), without SSH: the
 * takeover happens, the reads really land in the one buffer it hands out, a view kept moves the
 * next read to a new buffer, and an idle connection's buffer shrinks. A Node that renamed or
 * changed those internals fails here by name, not through a slower or broken upload.
 */
describe(`socket reads into a reused buffer on Node ${process.version}`, () => {
  const closers: (() => void)[] = [];
  afterEach(() => {
    for (const close of closers.splice(0)) close();
  });

  /** A connected pair: `accepted` is the server's socket, its 'data' in `onData`. */
  async function pair(onData: (b: Buffer) => void) {
    let accepted!: net.Socket;
    const server = net.createServer((s) => {
      accepted = s;
      s.on('data', onData);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    await new Promise((r) => client.once('connect', r));
    while (!accepted) await new Promise((r) => setImmediate(r));
    closers.push(() => {
      client.destroy();
      server.close();
    });
    return { client, accepted };
  }
  const send = async (client: net.Socket, b: Buffer) => {
    if (!client.write(b)) await new Promise((r) => client.once('drain', r));
  };
  const settle = () => new Promise((r) => setTimeout(r, 50));

  it('every read lands in the one buffer handed to the handle, and the bytes are right', async () => {
    const views: Buffer[] = [];
    const got: Buffer[] = [];
    const { client, accepted } = await pair((b) => {
      views.push(b);
      got.push(Buffer.from(b));
    });
    const before = { ...socketReads };
    expect(reuseSocketReads(accepted, { start() {}, parsed: () => true })).toBe(true);
    expect(socketReads.installed - before.installed).toBe(1);
    expect(socketReads.declined - before.declined).toBe(0);
    const body = Buffer.alloc(4 * 1024 * 1024);
    for (let i = 0; i < body.length; i += 4) body.writeUInt32LE(i, i);
    for (let at = 0; at < body.length; at += 200_000) await send(client, body.subarray(at, at + 200_000));
    while (got.reduce((n, b) => n + b.length, 0) < body.length) await settle();
    expect(Buffer.concat(got).equals(body)).toBe(true);
    // Node's own reads: a new ArrayBuffer each. These: the same one, READ_SIZE long, every time.
    const buffers = new Set(views.map((v) => v.buffer));
    expect(buffers.size).toBe(1);
    expect(views[0]!.buffer.byteLength).toBe(READ_SIZE);
    expect(socketReads.inPlace - before.inPlace).toBe(views.length);
    expect(views.length).toBeGreaterThanOrEqual(body.length / READ_SIZE);
  });

  it('a read whose view is kept sends the next read to a new buffer; the kept bytes stay as they were', async () => {
    const views: Buffer[] = [];
    const { client, accepted } = await pair((b) => views.push(b));
    let keep = true; // the first read is "kept" (parsed() false), the rest are not
    expect(reuseSocketReads(accepted, { start() {}, parsed: () => !keep })).toBe(true);
    const before = { ...socketReads };
    const first = Buffer.alloc(READ_SIZE, 0xa1);
    await send(client, first);
    while (views.reduce((n, b) => n + b.length, 0) < first.length) await settle();
    const kept = views.splice(0); // the views themselves, as a parser that keeps them would
    keep = false;
    await send(client, Buffer.alloc(3 * READ_SIZE, 0xb2));
    while (views.reduce((n, b) => n + b.length, 0) < 3 * READ_SIZE) await settle();
    expect(kept.every((v) => v.every((b) => b === 0xa1))).toBe(true);
    expect(socketReads.fresh - before.fresh).toBeGreaterThanOrEqual(1);
    expect(socketReads.copied - before.copied).toBeGreaterThanOrEqual(1); // parsed from a copy after it
    expect(views.every((v) => v.every((b) => b === 0xb2))).toBe(true);
  });

  it("after a short read the connection's next buffer is IDLE_SIZE, and a read that fills it grows it back", async () => {
    const views: Buffer[] = [];
    const { client, accepted } = await pair((b) => views.push(Buffer.from(b)));
    expect(reuseSocketReads(accepted, { start() {}, parsed: () => true })).toBe(true);
    await send(client, Buffer.from('ping'));
    while (views.length === 0) await settle();
    expect(socketReads.nextSize).toBe(IDLE_SIZE);
    await send(client, Buffer.alloc(2 * READ_SIZE, 1));
    while (views.reduce((n, b) => n + b.length, 0) < 4 + 2 * READ_SIZE) await settle();
    expect(socketReads.nextSize).toBe(READ_SIZE);
  });
});
