import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { p, type SftpTestServer, sftpClient, startSftpServer } from '../support/sftp.js';
import { packet, type RawSftp, rawSftp, SSH_FXP, str, u32, u64, write } from '../support/sftp-raw.js';

/**
 * WRITE requests are parsed by Ferry before ssh2 sees the channel's bytes
 * (src/protocols/sftp/write-packets.ts): their data joined into reused buffers, or lent as a view
 * of the SSH packet. Here the bytes are sent by hand on the `sftp` subsystem, cut where a real
 * stream may cut them (every byte of a WRITE's head in its own SSH packet, a request's tail and
 * the next WRITE's head in one), and the file read back must be exactly what was written.
 */

/** Every byte of `b` its own piece. */
const bytewise = (b: Buffer): Buffer[] => [...b].map((x) => Buffer.from([x]));

describe('SFTP WRITEs parsed before ssh2 (write-packets.ts)', () => {
  let server: SftpTestServer;
  let client: Awaited<ReturnType<typeof sftpClient>>;

  const channel = (): Promise<RawSftp> => rawSftp(client.client);
  const readBack = (path: string) => p<Buffer>((cb) => client.sftp.readFile(path, cb));

  beforeAll(async () => {
    server = await startSftpServer();
    client = await sftpClient(server, server.user);
  });
  afterAll(async () => {
    client?.end();
    await server?.close();
  });

  it('WRITEs cut at every byte of their head, spread over SSH packets or lent whole, requests between them: the file is what was sent', async () => {
    const raw = await channel();
    const handle = await raw.open(1, '/cut.bin');
    const a = randomBytes(100 * 1024);
    const b = randomBytes(300);
    const c = randomBytes(255 * 1024);
    const w1 = write(10, handle, 0, a);
    const head = 4 + 1 + 4 + 4 + handle.length + 8 + 4;
    // W1: every byte of its head alone, then its data in three uneven pieces.
    raw.send(...bytewise(w1.subarray(0, head + 1)), w1.subarray(head + 1, 50_000), w1.subarray(50_000));
    // An FSTAT cut in two, its tail in one piece with W2's head; W2 whole in that piece too.
    const fstat = packet(SSH_FXP.FSTAT, [u32(11), str(handle)]);
    const w2 = write(12, handle, a.length, b);
    raw.send(fstat.subarray(0, 3), Buffer.concat([fstat.subarray(3), w2]));
    // W3: more than an SSH packet of data (ssh2 splits the write), then an empty WRITE.
    raw.send(
      write(13, handle, a.length + b.length, c),
      write(14, handle, a.length + b.length + c.length, Buffer.alloc(0)),
    );
    await raw.ok(10);
    expect((await raw.reply(11))[0]).toBe(SSH_FXP.ATTRS);
    await raw.ok(12);
    await raw.ok(13);
    await raw.ok(14);
    raw.send(packet(SSH_FXP.CLOSE, [u32(15), str(handle)]));
    await raw.ok(15);
    const want = Buffer.concat([a, b, c]);
    const got = await readBack('/cut.bin');
    expect(got.length).toBe(want.length);
    expect(createHash('sha256').update(got).digest('hex')).toBe(
      createHash('sha256').update(want).digest('hex'),
    );
    raw.ch.end();
  });

  it('many WRITEs in flight at once, out of order (join buffers reused only once taken): the file is what was sent', async () => {
    const raw = await channel();
    const handle = await raw.open(1, '/many.bin');
    const piece = 255 * 1024;
    const want = randomBytes(48 * piece + 1234);
    const offsets = Array.from({ length: Math.ceil(want.length / piece) }, (_, i) => i * piece);
    // Sequential for the first half, the second half's WRITEs reversed (held until their turn).
    const order = [...offsets.slice(0, 24), ...offsets.slice(24).reverse()];
    for (const [i, at] of order.entries())
      raw.send(write(100 + i, handle, at, want.subarray(at, at + piece)));
    for (let i = 0; i < order.length; i++) await raw.ok(100 + i);
    raw.send(packet(SSH_FXP.CLOSE, [u32(2), str(handle)]));
    await raw.ok(2);
    const got = await readBack('/many.bin');
    expect(createHash('sha256').update(got).digest('hex')).toBe(
      createHash('sha256').update(want).digest('hex'),
    );
    raw.ch.end();
  });

  it('a WRITE with bytes past its fields goes to ssh2, which takes it as before (the data is the string)', async () => {
    const raw = await channel();
    const handle = await raw.open(1, '/extra.bin');
    const data = Buffer.from('only these bytes\n');
    const fields = [u32(3), str(handle), u64(0), str(data), Buffer.from('trailing')];
    raw.send(packet(SSH_FXP.WRITE, fields));
    await raw.ok(3);
    raw.send(packet(SSH_FXP.CLOSE, [u32(4), str(handle)]));
    await raw.ok(4);
    expect((await readBack('/extra.bin')).toString()).toBe(data.toString());
    raw.ch.end();
  });

  it('a WRITE whose data length runs past the packet is refused as ssh2 refuses it: the channel closes, nothing is stored', async () => {
    const raw = await channel();
    const handle = await raw.open(1, '/bad.bin');
    // The data string says 100 bytes, the packet holds 10 of them.
    const bad = packet(SSH_FXP.WRITE, [u32(3), str(handle), u64(0), u32(100), Buffer.alloc(10)]);
    raw.send(bad);
    for (let i = 0; i < 100 && !raw.closed; i++) await new Promise((r) => setTimeout(r, 50));
    expect(raw.closed).toBe(true);
    await expect(p((cb) => client.sftp.stat('/bad.bin', (err) => cb(err)))).rejects.toThrow(/no such file/i);
  });
});
