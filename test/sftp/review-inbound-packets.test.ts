import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteObjectsCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import type { Client } from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inboundPackets } from '../../src/protocols/sftp/inbound-packets.js';
import { startChopRelay } from '../support/chop-relay.js';
import { connectSsh, exec, HomeInS3, type SftpTestServer, startSftpServer } from '../support/sftp.js';
import { OPEN_READ, packet, rawSftp, SSH_FXP, str, u32, u64, write } from '../support/sftp-raw.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/**
 * An attacker's review of inbound-packets.ts (one reused buffer per connection for the SSH packets
 * ssh2 joins across socket reads). A buffer handed out again while a view of the packet before is
 * still alive would store wrong bytes silently, so every upload here is compared byte for byte
 * with what RGW holds. The client's bytes go through a relay that cuts them at random (a few bytes
 * to ~100 KiB, paused between pieces): SSH packets straddle two, three or more socket reads, and
 * their length fields and MACs are cut too.
 */
describe('SFTP: the reused inbound packet buffer under socket reads cut at random', () => {
  let server: SftpTestServer;
  let home: HomeInS3;
  let relay: Awaited<ReturnType<typeof startChopRelay>>;
  let dir: string;
  const stored: string[] = [];

  beforeAll(async () => {
    server = await startSftpServer();
    home = new HomeInS3(server);
    relay = await startChopRelay({ host: server.host, port: server.port }, 9);
    dir = mkdtempSync(join(tmpdir(), 'ferry-rv-inpkt-'));
  }, 60_000);
  afterAll(async () => {
    if (stored.length > 0)
      await home.client
        .send(
          new DeleteObjectsCommand({
            Bucket: server.conn.bucket,
            Delete: { Objects: stored.map((name) => ({ Key: home.key('alice', name) })) },
          }),
        )
        .catch(() => {});
    home?.client.destroy();
    await relay?.close();
    await server?.close();
  });

  /** What RGW holds at `name` in alice's home. */
  const inStore = async (name: string): Promise<Buffer> => {
    stored.push(name);
    const r = await home.client.send(
      new GetObjectCommand({ Bucket: server.conn.bucket, Key: home.key('alice', name) }),
    );
    return Buffer.from(await r.Body!.transformToByteArray());
  };
  const viaRelay = () => [...server.sshOptions, '-P', String(relay.port)];

  it('OpenSSH sftp put (chacha20, aes128-gcm, aes256-gcm; WRITEs of 1000 B to 100 KB, 1–64 in flight, rekey every 256 KiB): byte-identical in RGW', async () => {
    const cases = [
      { cipher: 'chacha20-poly1305@openssh.com', extra: [] as string[], size: 12 * MiB + 7 },
      { cipher: 'aes128-gcm@openssh.com', extra: ['-B', '1000'], size: 3 * MiB + 1 },
      { cipher: 'aes256-gcm@openssh.com', extra: ['-B', '100000', '-R', '3'], size: 9 * MiB + 333 },
      {
        cipher: 'chacha20-poly1305@openssh.com',
        extra: ['-B', '32768', '-o', 'RekeyLimit=256K'],
        size: 6 * MiB,
      },
      { cipher: 'aes128-gcm@openssh.com', extra: ['-B', '32755', '-R', '1'], size: 2 * MiB + 5 },
    ];
    const before = { ...inboundPackets };
    for (const [i, c] of cases.entries()) {
      const body = randomBytes(c.size);
      writeFileSync(join(dir, `up-${i}.bin`), body);
      const put = await exec(
        'sftp',
        [...viaRelay(), '-c', c.cipher, ...c.extra, '-b', '-', `alice@${server.host}`],
        { cwd: dir, input: `put up-${i}.bin put-${i}.bin\n`, timeoutMs: 180_000 },
      );
      expect(put.stderr, `${c.cipher} ${c.extra}`).toBe('');
      expect(sha(await inStore(`put-${i}.bin`)), `${c.cipher} ${c.extra}`).toBe(sha(body));
    }
    // Both ways of the rule were taken: packets joined in a spare that was kept, and spares let go.
    expect(inboundPackets.reused - before.reused).toBeGreaterThan(50);
    expect(inboundPackets.dropped - before.dropped).toBeGreaterThan(50);
  }, 600_000);

  it('scp -O and sftp at once over one multiplexed connection (exec and sftp channel data through one buffer): both byte-identical', async () => {
    const control = join(dir, 'ctl');
    const mux = ['-o', `ControlPath=${control}`];
    const master: ChildProcess = spawn(
      'ssh',
      [...server.sshOptions, '-p', String(relay.port), '-M', ...mux, '-N', `alice@${server.host}`],
      { stdio: 'ignore' },
    );
    try {
      const check = await waitForMaster(server, mux);
      expect(check, 'the control master is up').toBe(0);
      const a = randomBytes(10 * MiB + 11);
      const b = randomBytes(10 * MiB + 13);
      writeFileSync(join(dir, 'mux-a.bin'), a);
      writeFileSync(join(dir, 'mux-b.bin'), b);
      const [scp, sftp] = await Promise.all([
        exec(
          'scp',
          [...server.sshOptions, ...mux, '-O', join(dir, 'mux-a.bin'), `alice@${server.host}:/mux-a.bin`],
          {
            timeoutMs: 180_000,
          },
        ),
        exec('sftp', [...server.sshOptions, ...mux, '-b', '-', `alice@${server.host}`], {
          cwd: dir,
          input: 'put mux-b.bin mux-b.bin\n',
          timeoutMs: 180_000,
        }),
      ]);
      expect([scp.code, scp.stderr]).toEqual([0, '']);
      expect([sftp.code, sftp.stderr]).toEqual([0, '']);
      expect(sha(await inStore('mux-a.bin'))).toBe(sha(a));
      expect(sha(await inStore('mux-b.bin'))).toBe(sha(b));
    } finally {
      master.kill();
    }
  }, 300_000);

  it("ssh2's client: packets of exactly 35000 bytes, WRITEs of every size split anywhere, STATs between, and READ bursts that make the server hold requests: every WRITE stored right, every READ answered right", async () => {
    for (const cipher of ['chacha20-poly1305@openssh.com', 'aes128-gcm@openssh.com']) {
      const seed = randomBytes(12 * MiB);
      await home.client.send(
        new PutObjectCommand({ Bucket: server.conn.bucket, Key: home.key('alice', 'seed.bin'), Body: seed }),
      );
      stored.push('seed.bin');
      const got = await connectSsh({
        host: server.host,
        port: relay.port,
        username: 'alice',
        password: server.user.password,
        algorithms: { cipher: [cipher as 'aes128-gcm@openssh.com'] },
      });
      if (!('client' in got)) throw new Error(got.error);
      const client: Client = got.client;
      const raw = await rawSftp(client);
      // The largest CHANNEL_DATA the server's decipher takes (ssh2's MAX_PACKET_SIZE, 35000 bytes
      // of packet): 34984 bytes of data with chacha20's 8-byte blocks, 34962 with AES-GCM's 16.
      (raw.ch as unknown as { outgoing: { packetSize: number } }).outgoing.packetSize = cipher.startsWith(
        'chacha',
      )
        ? 34984
        : 34962;
      const name = `raw-${cipher.slice(0, 6)}.bin`;
      const out = await raw.open(1, `/${name}`);
      const input = await raw.open(2, '/seed.bin', OPEN_READ);
      const random = randomBytes(4);
      let r = random.readUInt32BE(0) | 1;
      const next = (n: number) => {
        r ^= r << 13;
        r ^= r >>> 17;
        r ^= r << 5;
        return (r >>> 0) % n;
      };
      const body = randomBytes(7 * MiB + 77);
      const stream: Buffer[] = [];
      const writes: number[] = [];
      const stats: number[] = [];
      const reads: { id: number; offset: number }[] = [];
      let id = 10;
      for (let at = 0; at < body.length; ) {
        const pick = next(10);
        const len = Math.min(
          body.length - at,
          pick < 3
            ? 1 + next(64)
            : pick < 6
              ? 32 * KiB - 40 + next(80)
              : pick < 8
                ? 34_900 + next(200)
                : 1 + next(255 * KiB),
        );
        writes.push(id);
        stream.push(write(id++, out, at, body.subarray(at, at + len)));
        at += len;
        if (next(12) === 0) {
          stats.push(id);
          stream.push(packet(SSH_FXP.STAT, [u32(id++), str('/seed.bin')]));
        }
        if (next(40) === 0) {
          // 48 READs of 255 KiB: past READ_HOLD_AT (8 MiB), the server holds the next requests.
          for (let k = 0; k < 48; k++) {
            const offset = next(seed.length - 255 * KiB);
            reads.push({ id, offset });
            stream.push(packet(SSH_FXP.READ, [u32(id++), str(input), u64(offset), u32(255 * KiB)]));
          }
        }
      }
      const all = Buffer.concat(stream);
      const replies = [
        ...writes.map(async (w) => {
          const reply = await raw.reply(w);
          expect([reply[0], reply.readUInt32BE(5)], `WRITE ${w}`).toEqual([SSH_FXP.STATUS, 0]);
        }),
        ...stats.map(async (s) => expect((await raw.reply(s))[0]).toBe(SSH_FXP.ATTRS)),
        ...reads.map(async ({ id: rid, offset }) => {
          const reply = await raw.reply(rid);
          expect(reply[0]).toBe(SSH_FXP.DATA);
          const data = reply.subarray(9, 9 + reply.readUInt32BE(5));
          if (!data.equals(seed.subarray(offset, offset + 255 * KiB)))
            throw new Error(`READ ${rid}: wrong bytes`);
        }),
      ];
      // Channel writes of random sizes: SFTP packets cut across SSH packets anywhere.
      for (let at = 0; at < all.length; ) {
        const n = Math.min(all.length - at, next(4) === 0 ? 1 + next(100) : 1 + next(120_000));
        raw.ch.write(all.subarray(at, at + n));
        at += n;
      }
      await Promise.all(replies);
      raw.send(packet(SSH_FXP.CLOSE, [u32(5), str(input)]), packet(SSH_FXP.CLOSE, [u32(6), str(out)]));
      await raw.ok(5);
      await raw.ok(6);
      client.end();
      expect(sha(await inStore(name)), cipher).toBe(sha(body));
      expect(reads.length, 'READ bursts were sent').toBeGreaterThan(0);
    }
  }, 600_000);
});

/** Wait for the OpenSSH control master `mux` names (`ssh -O check`): its exit code. */
async function waitForMaster(server: SftpTestServer, mux: string[]): Promise<number> {
  let code = -1;
  for (let i = 0; i < 100 && code !== 0; i++) {
    code = (await exec('ssh', [...server.sshOptions, ...mux, '-O', 'check', `alice@${server.host}`])).code;
    if (code !== 0) await new Promise((r) => setTimeout(r, 100));
  }
  return code;
}
