import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HeadBucketCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Client } from '../../src/s3/client.js';
import { parseConnection, type S3ConnectionInput } from '../../src/s3/connection.js';
import { S3Storage } from '../../src/storage/s3/s3-storage.js';
import { TEST_BUCKET, testS3 } from '../support/s3.js';

const dir = mkdtempSync(join(tmpdir(), 'ferry-tls-'));
let server: https.Server;
let url: string;
const env = { HOME: dir };

/** An HTTPS front (self-signed certificate for 127.0.0.1) to the real RGW, as a private-CA store. */
beforeAll(async () => {
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'ca.pem'),
    ],
    { stdio: 'ignore' },
  );
  const target = new URL(testS3().endpoint);
  server = https.createServer(
    { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'ca.pem')) },
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
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r));
});

function storage(extra: Partial<S3ConnectionInput>, warn?: (l: string) => void) {
  const c = parseConnection({
    bucket: TEST_BUCKET,
    endpoint: url,
    region: 'us-east-1',
    accessKeyId: testS3().accessKeyId,
    secretAccessKey: testS3().secretAccessKey,
    ...extra,
  });
  return new S3Storage(createS3Client(c, env, { warn }), c);
}

describe('HTTPS endpoints with a private CA', () => {
  it('an untrusted certificate is refused', async () => {
    const s = storage({});
    await expect(s.stat('')).rejects.toThrow(/self[- ]signed|certificate/i);
    await s.close();
  });
  it('--ca-bundle trusts it', async () => {
    const s = storage({ caBundle: join(dir, 'ca.pem') });
    await s.stat('');
    await s.close();
  });
  it('--insecure works and warns', async () => {
    const lines: string[] = [];
    const s = storage({ insecureTls: true }, (l) => lines.push(l));
    await s.stat('');
    expect(lines.join('\n')).toMatch(/TLS certificate checks are OFF for https:\/\/127\.0\.0\.1/);
    await s.close();
  });
});

describe('AWS endpoint variants', () => {
  /** The host a request would go to, without sending it. */
  async function hostFor(extra: Partial<S3ConnectionInput>): Promise<string> {
    const c = parseConnection({
      bucket: 'my-bucket',
      region: 'eu-west-1',
      accessKeyId: 'a',
      secretAccessKey: 'b',
      ...extra,
    });
    const client = createS3Client(c, env);
    let host = '';
    client.middlewareStack.add(
      () => async (args) => {
        host = (args.request as { hostname: string }).hostname;
        throw new Error('stop');
      },
      { step: 'finalizeRequest', name: 'captureHost' },
    );
    await client.send(new HeadBucketCommand({ Bucket: 'my-bucket' })).catch(() => {});
    client.destroy();
    return host;
  }
  it('transfer acceleration and dual-stack pick their endpoints', async () => {
    expect(await hostFor({})).toBe('my-bucket.s3.eu-west-1.amazonaws.com');
    expect(await hostFor({ accelerate: true })).toBe('my-bucket.s3-accelerate.amazonaws.com');
    expect(await hostFor({ dualstack: true })).toBe('my-bucket.s3.dualstack.eu-west-1.amazonaws.com');
    expect(await hostFor({ pathStyle: true })).toBe('s3.eu-west-1.amazonaws.com');
  });
});
