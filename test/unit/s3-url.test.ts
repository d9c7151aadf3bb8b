import { describe, expect, it } from 'vitest';
import { SecretScrubber } from '../../src/cli/secrets.js';
import { connectionFromUrl } from '../../src/s3/connection.js';
import { isS3Url, parseS3Url, redact, redactText, redactUrl } from '../../src/s3/url.js';

describe('s3:// URLs', () => {
  it('bucket and prefix', () => {
    expect(parseS3Url('s3://my-bucket')).toMatchObject({ bucket: 'my-bucket', key: '', endpoint: undefined });
    expect(parseS3Url('s3://my-bucket/a/b/')).toMatchObject({ bucket: 'my-bucket', key: 'a/b' });
    expect(parseS3Url('s3://my-bucket/a b/100%.txt')).toMatchObject({ key: 'a b/100%.txt' });
  });

  it('keys and host (CrushFTP form), URL-encoded secrets', () => {
    expect(parseS3Url('s3://AKIAEXAMPLE:abcd%2F12%40x@s3.example.com:9000/bkt/pre/fix')).toEqual({
      bucket: 'bkt',
      key: 'pre/fix',
      endpoint: 'https://s3.example.com:9000',
      accessKeyId: 'AKIAEXAMPLE',
      secretAccessKey: 'abcd/12@x',
      region: undefined,
    });
    // A raw `/` in the secret is accepted too (AWS secrets often hold one).
    expect(parseS3Url('s3://AK:wJal/rXU+tn@127.0.0.1:7480/b1/')).toMatchObject({
      secretAccessKey: 'wJal/rXU+tn',
      endpoint: 'https://127.0.0.1:7480',
      bucket: 'b1',
    });
    expect(parseS3Url('s3+http://AK:SK@localhost:7480/bkt').endpoint).toBe('http://localhost:7480');
  });

  it('AWS hosts mean AWS itself, with the region of a regional host', () => {
    expect(parseS3Url('s3://AK:SK@s3.amazonaws.com/my-bucket/')).toMatchObject({
      endpoint: undefined,
      region: undefined,
      bucket: 'my-bucket',
    });
    expect(parseS3Url('s3://AK:SK@s3.eu-west-1.amazonaws.com/b2')).toMatchObject({
      endpoint: undefined,
      region: 'eu-west-1',
    });
  });

  it('rejects what is not an S3 location', () => {
    expect(() => parseS3Url('http://x/y')).toThrow(/not an s3/);
    expect(() => parseS3Url('s3://')).toThrow(/no bucket/);
    expect(() => parseS3Url('s3://AK:SK@host')).toThrow(/no bucket/);
    expect(() => parseS3Url('s3://bad_bucket!')).toThrow(/bucket name/);
    expect(isS3Url('./s3://x')).toBe(false);
  });

  it('never prints the secret', () => {
    expect(redact('s3://AK:very-secret@host/b')).toBe('s3://AK:***@host/b');
    expect(redactUrl('s3+http://AKIAIOSFODNN7EXAMPLE:a%2Fb@h:9/b/k')).toBe('s3+http://AKIA…MPLE:***@h:9/b/k');
    expect(redactUrl('s3://bucket/key:with@at')).toBe('s3://bucket/key:with@at');
  });

  it('redactText scrubs credentials of any URL anywhere in a message', () => {
    expect(redactText("unknown command 's3+http://AK:s/e+c@h/b' and http://u:p@x/y")).toBe(
      "unknown command 's3+http://AK:***@h/b' and http://u:***@x/y",
    );
    expect(redactText('s3://bucket/a:b@c is fine')).toBe('s3://bucket/a:b@c is fine');
    expect(redactText('s3://AK:se@cret@host/b/user@x')).toBe('s3://AK:***@host/b/user@x');
    expect(redactUrl('s3://AK:se@cret@host/b/user@x')).toBe('s3://AK:***@host/b/user@x');
  });

  it('a raw @ in the secret is refused with how to write it, not split into the host', () => {
    expect(() => parseS3Url('s3://AK:se@cret@host/b')).toThrow(/must be written %40/);
    expect(() => parseS3Url('s3://AK:se@cret@host/b')).not.toThrow(/se@cret|cret@/);
  });

  it('SecretScrubber removes the secrets of URLs, flags and the environment, as written and decoded', () => {
    const s = new SecretScrubber(
      [
        'node',
        'ferry',
        'cp',
        's3://AK:se%40cr%2Fet@h/b/k',
        '--secret-key',
        'flag-secret',
        '--session-token=tok-123',
      ],
      { AWS_SECRET_ACCESS_KEY: 'env-secret' },
    );
    expect(s.scrub('a se@cr/et b se%40cr%2Fet c flag-secret d tok-123 e env-secret')).toBe(
      'a *** b *** c *** d *** e ***',
    );
    expect(new SecretScrubber(['ferry', 's3://AK:se@cret@host/b']).scrub('x se@cret y')).toBe('x *** y');
  });

  it('connection: endpoint from the environment, path-style prefix normalised, .. refused', () => {
    const c = connectionFromUrl('s3://bkt/a//b/', {}, { AWS_ENDPOINT_URL: 'http://127.0.0.1:7480' });
    expect(c).toMatchObject({ bucket: 'bkt', prefix: 'a/b', endpoint: 'http://127.0.0.1:7480' });
    expect(() => connectionFromUrl('s3://bkt/a/../b', {}, {})).toThrow(/\.\./);
  });
});
