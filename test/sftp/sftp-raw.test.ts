import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { p, type SftpTestServer, sftpClient, startSftpServer } from '../support/sftp.js';
import { type RawSftp, rawSftp, readStrings, SSH_FX_OP_UNSUPPORTED, SSH_FXP } from '../support/sftp-raw.js';

/** SFTP spoken by hand on the `sftp` subsystem: what no client library exposes (check-file's reply). */

describe('SFTP on the wire: VERSION extensions, check-file, unknown extensions', () => {
  let server: SftpTestServer;
  let raw: RawSftp;
  let end: () => void;
  const body = Buffer.from('check me, please\n');

  beforeAll(async () => {
    server = await startSftpServer();
    const c = await sftpClient(server, server.user);
    await p((cb) => c.sftp.writeFile('/sum.txt', body, cb));
    raw = await rawSftp(c.client, { init: false });
    end = c.end;
  });
  afterAll(async () => {
    end?.();
    await server?.close();
  });

  it('VERSION 3 names the extensions', async () => {
    raw.request(SSH_FXP.INIT, 3);
    const v = await raw.next();
    expect(v[0]).toBe(SSH_FXP.VERSION);
    expect(v.readUInt32BE(1)).toBe(3);
    const names = readStrings(v.subarray(5));
    expect(names).toEqual(
      expect.arrayContaining(['posix-rename@openssh.com', 'limits@openssh.com', 'copy-data', 'check-file']),
    );
    expect(names).not.toContain('hardlink@openssh.com');
  });

  it('check-file-name answers the first offered algorithm with the whole-file digest', async () => {
    raw.request(SSH_FXP.EXTENDED, 7, 'check-file-name', '/sum.txt', 'sha512,sha256,md5', 0n, 0n, 0);
    const r = await raw.next();
    expect(r[0]).toBe(SSH_FXP.EXTENDED_REPLY);
    expect(r.readUInt32BE(1)).toBe(7);
    const alg = r.readUInt32BE(5);
    expect(r.subarray(9, 9 + alg).toString()).toBe('sha256');
    expect(r.subarray(9 + alg).toString('hex')).toBe(createHash('sha256').update(body).digest('hex'));
  });

  it('a partial check-file, an unknown extension and hardlink are OP_UNSUPPORTED; the channel lives on', async () => {
    raw.request(SSH_FXP.EXTENDED, 8, 'check-file-name', '/sum.txt', 'md5', 1n, 0n, 0);
    raw.request(SSH_FXP.EXTENDED, 9, 'no-such-extension@example.com', 'x');
    raw.request(SSH_FXP.EXTENDED, 10, 'hardlink@openssh.com', '/sum.txt', '/hard.txt');
    // Replies come as each request finishes, not necessarily in order.
    const replies = [await raw.next(), await raw.next(), await raw.next()];
    const byId = new Map(replies.map((r) => [r.readUInt32BE(1), r]));
    for (const id of [8, 9, 10]) {
      const r = byId.get(id) as Buffer;
      expect(r[0]).toBe(SSH_FXP.STATUS);
      expect(r.readUInt32BE(5)).toBe(SSH_FX_OP_UNSUPPORTED);
    }
    raw.request(SSH_FXP.EXTENDED, 11, 'check-file-name', '/sum.txt', 'md5', 0n, 0n, 0);
    const ok = await raw.next();
    expect(ok[0]).toBe(SSH_FXP.EXTENDED_REPLY);
    expect(ok.subarray(9 + 3).toString('hex')).toBe(createHash('md5').update(body).digest('hex'));
  });
});
