import type { S3Client } from '@aws-sdk/client-s3';
import type { UserInput } from '../../src/accounts/model.js';
import { createS3Client } from '../../src/s3/client.js';
import type { S3Connection } from '../../src/s3/connection.js';
import { type SftpTestServer, startSftpServer } from '../support/sftp.js';

export interface ScpTestServer {
  /** The real server (`ferry serve` in this process, test/support/sftp.ts). */
  sftp: SftpTestServer;
  conn: S3Connection;
  /** A raw S3 client on the test RGW, to look behind the server. */
  client: S3Client;
  /** scp options: `-P port`, alice's key, no host key checks. */
  scpArgs: string[];
  /** ssh options: `-p port`, the same. */
  sshArgs: string[];
  /** The S3 key prefix of alice's home (no trailing slash). */
  homePrefix: string;
  close(): Promise<void>;
}

/** `ferry serve` with SFTP on RGW and the user `alice` (permissions as given), for the SCP tests. */
export async function startScpServer(permissions?: UserInput['permissions']): Promise<ScpTestServer> {
  const sftp = await startSftpServer(permissions ? { user: { permissions } } : {});
  const client = createS3Client(sftp.conn);
  return {
    sftp,
    conn: sftp.conn,
    client,
    scpArgs: sftp.sftpArgs,
    sshArgs: sftp.sshArgs,
    homePrefix: sftp.homePrefix('alice'),
    async close() {
      client.destroy();
      await sftp.close();
    },
  };
}
