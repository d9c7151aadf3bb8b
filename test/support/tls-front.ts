import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { testS3 } from './s3.js';

export interface TlsFront {
  /** `https://127.0.0.1:PORT`: the real RGW behind a self-signed certificate. */
  url: string;
  /** The certificate (its own CA) to trust with `--ca-bundle`. */
  caFile: string;
  close(): Promise<void>;
}

/**
 * An HTTPS front to the real test RGW with a self-signed certificate for 127.0.0.1 (a private-CA
 * store), written into `dir` (key.pem, ca.pem). Every request is passed through as it is.
 */
export async function startTlsFront(dir: string): Promise<TlsFront> {
  const keyFile = join(dir, 'key.pem');
  const caFile = join(dir, 'ca.pem');
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1'].concat([
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      keyFile,
      '-out',
      caFile,
    ]),
    { stdio: 'ignore' },
  );
  const target = new URL(testS3().endpoint);
  const server = https.createServer(
    { key: readFileSync(keyFile), cert: readFileSync(caFile) },
    (req, res) => {
      const up = http.request(
        { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
        (r) => {
          res.writeHead(r.statusCode ?? 502, r.headers);
          r.pipe(res);
        },
      );
      up.on('error', () => res.destroy());
      req.pipe(up);
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    caFile,
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}
