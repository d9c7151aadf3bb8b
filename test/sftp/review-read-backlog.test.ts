import { createHash, randomBytes } from 'node:crypto';
import * as net from 'node:net';
import { DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import type { Client, ClientChannel } from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dataReplyStats } from '../../src/protocols/sftp/data-reply.js';
import { HomeInS3, p, type SftpTestServer, sftpClient, startSftpServer } from '../support/sftp.js';
import { OPEN_READ, packet, rawSftp, SSH_FXP, str, u32, u64 } from '../support/sftp-raw.js';

const KiB = 1024;
const MiB = 1024 * KiB;
/** What Ferry answers at most per READ (sftp.maxReadLength's default). */
const READ = 255 * KiB;

/** ssh2's client internals used to play a client that grants window but reads nothing. */
interface ClientInternals {
  _sock: net.Socket;
  _protocol: { channelWindowAdjust(id: number, amount: number): void };
}
interface ChannelInternals {
  outgoing: { id: number };
  incoming: { window: number };
}

/** The server's end of `client`'s connection (this process runs the server). */
function serverSocket(client: ClientInternals, serverPort: number): net.Socket {
  const handles = (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles();
  const found = handles.find(
    (h): h is net.Socket =>
      h instanceof net.Socket && h.localPort === serverPort && h.remotePort === client._sock.localPort,
  );
  if (!found) throw new Error("the server's socket was not found");
  return found;
}

/** Grant 1 GiB more window on `channel` than it has (ssh2 keeps to 2 MiB by itself). */
function grantWindow(client: ClientInternals, channel: unknown): void {
  const ch = channel as ChannelInternals;
  client._protocol.channelWindowAdjust(ch.outgoing.id, 1024 * MiB);
  ch.incoming.window += 1024 * MiB;
}

/** Replies the server has handed to ssh2 (straight into packets, or queued by ssh2) so far. */
const handedOut = () => dataReplyStats.direct + dataReplyStats.copied;

/** Wait until `count()` stops changing for `quietMs` (or `maxMs` passed); its last value. */
async function settled(count: () => number, quietMs: number, maxMs: number): Promise<number> {
  const deadline = Date.now() + maxMs;
  let last = count();
  let since = Date.now();
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    const now = count();
    if (now !== last) {
      last = now;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) break;
  }
  return last;
}

/**
 * A client that grants a large channel window (its right: up to 4 GiB) and then stops reading its
 * socket: what the server sends it piles up in the server's socket, since ssh2 writes whatever the
 * window allows. READ_HOLD_AT (sftp.ts) bounds only the replies not yet handed to ssh2 and those
 * ssh2 queued for want of window, so READs asked for a whole file went out in full, into memory.
 */
describe('SFTP: READ replies to a client that grants window but reads nothing', () => {
  let server: SftpTestServer;
  let home: HomeInS3;
  const size = 160 * MiB;
  const body = randomBytes(size);

  beforeAll(async () => {
    server = await startSftpServer();
    home = new HomeInS3(server);
    await home.client.send(
      new PutObjectCommand({ Bucket: server.conn.bucket, Key: home.key('alice', 'big.bin'), Body: body }),
    );
  }, 120_000);
  afterAll(async () => {
    await home?.client
      .send(new DeleteObjectCommand({ Bucket: server.conn.bucket, Key: home.key('alice', 'big.bin') }))
      .catch(() => {});
    home?.client.destroy();
    await server?.close();
  });

  it('the server stops answering READs while its socket holds a backlog, and every reply is right once the client reads', async () => {
    const c = await sftpClient(server, server.user);
    const client = c.client as unknown as Client & ClientInternals;
    const raw = await rawSftp(c.client);
    const handle = await raw.open(1, '/big.bin', OPEN_READ);
    grantWindow(client, raw.ch);
    const sock = serverSocket(client, server.port);
    const count = Math.ceil(size / READ);
    const requests: Buffer[] = [];
    for (let i = 0; i < count; i++)
      requests.push(packet(SSH_FXP.READ, [u32(1000 + i), str(handle), u64(i * READ), u32(READ)]));
    const before = handedOut();
    client._sock.pause();
    raw.ch.write(Buffer.concat(requests));
    const out = (await settled(() => handedOut() - before, 3000, 60_000)) * READ;
    const queued = sock.writableLength;
    // Kernel buffers on loopback take some MiB (the client's receive buffer grows up to
    // net.ipv4.tcp_rmem's maximum); everything past them stays in the server's memory.
    const said = `${(out / MiB).toFixed(0)} MiB of replies handed out, ${(queued / MiB).toFixed(1)} MiB queued in the socket`;
    expect(queued, said).toBeLessThan(16 * MiB);
    expect(out, said).toBeLessThan(64 * MiB);

    client._sock.resume();
    for (let i = 0; i < count; i++) {
      const r = await raw.reply(1000 + i);
      expect(r[0]).toBe(SSH_FXP.DATA);
      const data = r.subarray(9, 9 + r.readUInt32BE(5));
      if (!data.equals(body.subarray(i * READ, (i + 1) * READ))) throw new Error(`READ ${i}: wrong bytes`);
    }
    c.end();
  }, 180_000);

  it('scp -f (legacy SCP download): the server stops reading the file while its socket holds a backlog, and the copy is whole once the client reads', async () => {
    const c = await sftpClient(server, server.user);
    const client = c.client as unknown as Client & ClientInternals;
    const ch = await p<ClientChannel>((cb) => c.client.exec('scp -f /big.bin', cb));
    const chunks: Buffer[] = [];
    let received = 0;
    let arrived = () => {};
    ch.on('data', (d: Buffer) => {
      chunks.push(d);
      received += d.length;
      arrived();
    });
    const until = (n: number) =>
      new Promise<void>((resolve) => {
        arrived = () => received >= n && resolve();
        arrived();
      });
    ch.write(Buffer.from([0]));
    const header = `C0644 ${size} big.bin\n`;
    await until(header.length);
    expect(Buffer.concat(chunks).toString()).toBe(header);
    grantWindow(client, ch);
    const sock = serverSocket(client, server.port);
    client._sock.pause();
    ch.write(Buffer.from([0]));
    const queued = await settled(() => sock.writableLength, 3000, 60_000);
    expect(queued, `${(queued / MiB).toFixed(1)} MiB queued in the server's socket`).toBeLessThan(16 * MiB);

    client._sock.resume();
    await until(header.length + size + 1);
    const all = Buffer.concat(chunks);
    const hash = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
    expect(hash(all.subarray(header.length, header.length + size))).toBe(hash(body));
    expect(all[header.length + size]).toBe(0);
    ch.write(Buffer.from([0]));
    c.end();
  }, 180_000);
});
