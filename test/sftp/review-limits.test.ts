import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SFTPWrapper } from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SftpTestServer, sftpClient, startSftpServer } from '../support/sftp.js';

/** Review of issue 9: limits an attacker with one login must not get around. */
let server: SftpTestServer;
beforeAll(async () => {
  // Homes in a local folder: the limit is the SSH layer's, whatever the storage.
  server = await startSftpServer({ flags: { storage: mkdtempSync(join(tmpdir(), 'ferry-review-')) } });
}, 180_000);
afterAll(async () => server?.close());

describe('SFTP limits per connection (review)', () => {
  it('one login cannot open channels without bound (each one holds 256 handles)', async () => {
    // sftpClient opens the first channel.
    const { sftp: first, client, end } = await sftpClient(server, server.user);
    try {
      let opened = 0;
      let refused = 0;
      for (let i = 0; i < 40; i++) {
        const ok = await new Promise<SFTPWrapper | undefined>((resolve) =>
          client.sftp((err, s) => resolve(err ? undefined : s)),
        );
        if (ok) opened++;
        else refused++;
      }
      // OpenSSH's MaxSessions default: 10 session channels per connection.
      expect(opened).toBe(9);
      expect(refused).toBe(31);
      // A closed channel frees its place.
      await new Promise<void>((resolve) => {
        first.once('close', () => resolve());
        first.end();
      });
      const again = await new Promise<boolean>((resolve) => client.sftp((err) => resolve(!err)));
      expect(again).toBe(true);
    } finally {
      end();
    }
  }, 120_000);
});
