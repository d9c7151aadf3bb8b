import { describe, expect, it } from 'vitest';
import { connectionFromUrl } from '../../src/s3/connection.js';
import { isS3Url, parseS3Url, redact } from '../../src/s3/url.js';

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
  });

  it('connection: endpoint from the environment, path-style prefix normalised, .. refused', () => {
    const c = connectionFromUrl('s3://bkt/a//b/', {}, { AWS_ENDPOINT_URL: 'http://127.0.0.1:7480' });
    expect(c).toMatchObject({ bucket: 'bkt', prefix: 'a/b', endpoint: 'http://127.0.0.1:7480' });
    expect(() => connectionFromUrl('s3://bkt/a/../b', {}, {})).toThrow(/\.\./);
  });
});
