import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HeadBucketCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Client } from '../../src/s3/client.js';
import { parseConnection, type S3ConnectionInput } from '../../src/s3/connection.js';
import { S3Storage } from '../../src/storage/s3/s3-storage.js';
import { TEST_BUCKET, testS3 } from '../support/s3.js';
import { startTlsFront, type TlsFront } from '../support/tls-front.js';

const dir = mkdtempSync(join(tmpdir(), 'ferry-tls-'));
let front: TlsFront;
let url: string;
const env = { HOME: dir };

/** An HTTPS front (self-signed certificate for 127.0.0.1) to the real RGW, as a private-CA store. */
beforeAll(async () => {
  front = await startTlsFront(dir);
  url = front.url;
});
afterAll(async () => {
  await front?.close();
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
