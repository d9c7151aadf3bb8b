import { describe, expect, it } from 'vitest';
import { parseConnection } from '../../src/s3/connection.js';
import { plainConnection, plainConnectionFields } from '../../src/s3/connection-check.js';
import { s3ConnectionSchema } from '../../src/s3/connection-schema.js';

/**
 * parseConnection checks a plainly valid input without zod (connection-check.ts) so that `ferry ls`
 * does not load it. That check must agree with the schema: whatever it accepts, the schema accepts
 * and turns into the very same value (fields, order, defaults); what the schema refuses, it refuses.
 */

/** Values to try per field: valid ones, wrong types, out of range, and those zod would rewrite. */
const SAMPLES: Record<string, unknown[]> = {
  bucket: ['bkt', 'ab', '', 'a.b.c', 3, null],
  prefix: ['', 'a/b', 7],
  endpoint: [
    'http://127.0.0.1:7480',
    'https://s3.example.com/',
    'HTTP://EXAMPLE.com',
    ' http://a:1 ',
    'http://a\n:1',
    'ftp://host',
    'http:example.com',
    'https:/path',
    'http://',
    'not a url',
    'https://s3.eu-west-1.amazonaws.com',
    1,
  ],
  region: ['eu-west-1', '', false],
  pathStyle: [true, false, 'true', 1],
  caBundle: ['/etc/ca.pem', 1],
  insecureTls: [true, false, 'yes'],
  accelerate: [true, false, 0],
  dualstack: [true, false, null],
  listVersion: [1, 2, 3, '2', 1.5],
  noCheckBucket: [true, 'false'],
  proxy: ['http://proxy:3128', 'http://u:p%40ss@proxy:3128', '', 'nonsense', 'socks5://p:1', 5],
  proxyPassword: ['pw', 1],
  signature: ['v4', 'v2', 'v3'],
  storageClass: ['STANDARD_IA', 1],
  sse: ['AES256', 'aws:kms', 'aws:kms:dsse', 'aes256'],
  sseKmsKeyId: ['key-1', 2],
  sseCustomerKey: ['0123456789abcdef0123456789abcdef', 'short', `${'A'.repeat(43)}=`, 9],
  acl: ['private', 'public-read', 'bucket-owner-full-control', 'public'],
  cacheControl: ['no-cache', 1],
  metadata: [{}, { a: '1', 'b-c': 'x y' }, { a: 1 }, [], 'a=1', null, Object.create(null)],
  requesterPays: [true, 'no'],
  credentialSource: ['auto', 'static', 'env', 'profile', 'web-identity', 'ecs', 'imds', 'anonymous', 'sso'],
  accessKeyId: ['AK', '', 1],
  secretAccessKey: ['SK', '', 1],
  sessionToken: ['tok', 1],
  profile: ['p', 1],
  mfaToken: ['123456', 123456],
  roleArn: ['arn:aws:iam::1:role/r', 1],
  externalId: ['ext', 1],
  roleSessionName: ['s', 1],
  roleDurationSeconds: [900, 43_200, 899, 43_201, 3600.5, '3600', Number.NaN],
  stsEndpoint: ['http://127.0.0.1:17481', 'sts', ' https://sts.amazonaws.com'],
  stsRegion: ['us-east-1', 1],
  imdsEndpoint: ['http://169.254.169.254', 'file:///x'],
  imdsV1Fallback: [true, 'x'],
  multipartCopyThreshold: [5 * 1024 ** 2, 5 * 1024 ** 2 - 1, 2 ** 60, Number.POSITIVE_INFINITY],
  multipartCopyPartSize: [512 * 1024 ** 2, 1024],
  concurrency: [1, 256, 0, 257, 2.5, -1],
  multipartThreshold: [16 * 1024 ** 2, 5 * 1024 ** 2 - 1],
  partSize: [5 * 1024 ** 2, 5 * 1024 ** 3, 5 * 1024 ** 3 + 1],
  partConcurrency: [1, 64, 65],
  freshConnectionGets: [true, false, 'on'],
};

function zodResult(input: unknown): unknown {
  const r = s3ConnectionSchema.safeParse(input);
  return r.success ? r.data : undefined;
}

function agree(input: unknown): 'plain' | 'zod-only' | 'refused' {
  const fast = plainConnection(input);
  const slow = zodResult(input);
  if (fast === undefined) return slow === undefined ? 'refused' : 'zod-only';
  expect({ input, value: fast }).toEqual({ input, value: slow });
  expect({ input, keys: Object.keys(fast) }).toEqual({ input, keys: Object.keys(slow as object) });
  return 'plain';
}

describe('the connection check without zod (connection-check.ts)', () => {
  it('knows every field of the schema, in its order', () => {
    expect(plainConnectionFields).toEqual(Object.keys(s3ConnectionSchema.shape));
    for (const key of Object.keys(SAMPLES)) expect(plainConnectionFields).toContain(key);
    expect(Object.keys(SAMPLES).sort()).toEqual([...plainConnectionFields].sort());
  });

  it('gives the defaults the schema gives, each a fresh value', () => {
    const a = plainConnection({ bucket: 'bkt' });
    expect(a).toEqual(s3ConnectionSchema.parse({ bucket: 'bkt' }));
    expect(Object.keys(a!)).toEqual(Object.keys(s3ConnectionSchema.parse({ bucket: 'bkt' })));
    expect(a!.metadata).not.toBe(plainConnection({ bucket: 'bkt' })!.metadata);
  });

  it('agrees with the schema on every sample value of every field', () => {
    const seen = { plain: 0, 'zod-only': 0, refused: 0 };
    for (const [key, values] of Object.entries(SAMPLES)) {
      for (const value of values) {
        seen[agree({ bucket: 'bkt', [key]: value })]++;
        seen[agree({ bucket: 'bkt', [key]: undefined })]++;
      }
    }
    // Most plain values pass without zod; zod alone accepts only what it would rewrite (URLs with
    // spaces around them).
    expect(seen.plain).toBeGreaterThan(150);
    expect(seen.refused).toBeGreaterThan(60);
    expect(seen['zod-only']).toBeLessThan(5);
  });

  it('agrees on inputs mixing many fields, cross-field rules among them', () => {
    // A fixed pseudo-random walk (same inputs every run): 3 000 inputs of 1 to 8 fields each.
    let seed = 12345;
    const next = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const keys = Object.keys(SAMPLES);
    const seen = { plain: 0, 'zod-only': 0, refused: 0 };
    for (let i = 0; i < 3000; i++) {
      const input: Record<string, unknown> = { bucket: 'bkt' };
      for (let n = 1 + next(8); n > 0; n--) {
        const key = keys[next(keys.length)]!;
        const values = SAMPLES[key]!;
        input[key] = values[next(values.length)];
      }
      seen[agree(input)]++;
    }
    expect(seen.plain).toBeGreaterThan(100);
    expect(seen.refused).toBeGreaterThan(100);
  });

  it('rules between fields: a plain check refuses what the schema refuses', () => {
    for (const input of [
      { bucket: 'bkt', sseKmsKeyId: 'k' },
      { bucket: 'bkt', sse: 'AES256', sseCustomerKey: '0123456789abcdef0123456789abcdef' },
      { bucket: 'bkt', accelerate: true, endpoint: 'http://127.0.0.1:1' },
      { bucket: 'a.b.c', accelerate: true },
      { bucket: 'bkt', credentialSource: 'static', accessKeyId: 'AK' },
      { bucket: 'bkt', externalId: 'x' },
      { bucket: 'bkt', signature: 'v2', sse: 'aws:kms' },
      { bucket: 'bkt', proxy: 'socks5://p:1' },
    ]) {
      expect(agree(input)).toBe('refused');
    }
  });

  it('not an object, or no bucket: refused', () => {
    for (const input of [undefined, null, 'bkt', 3, [], ['bkt'], {}, { bucket: undefined }]) {
      expect(agree(input)).toBe('refused');
    }
  });

  it('parseConnection words a refusal as the schema does, and keeps a plain input intact', () => {
    expect(() => parseConnection({ bucket: 'bkt', concurrency: 0, sse: 'x' })).toThrow(
      /^invalid S3 connection: sse: .+; concurrency: .+/,
    );
    expect(() => parseConnection({ bucket: 'bkt', externalId: 'x' })).toThrow(
      'invalid S3 connection: externalId: external-id needs role-arn',
    );
    expect(parseConnection({ bucket: 'bkt', proxy: 'http://u:p%40ss@proxy:3128' })).toMatchObject({
      proxy: 'http://u@proxy:3128',
      proxyPassword: 'p@ss',
    });
    expect(parseConnection({ bucket: 'bkt', endpoint: ' http://a:1 ' }).endpoint).toBe('http://a:1');
  });
});
