import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import type * as http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConnection } from '../../../src/s3/connection.js';
import { credentialsFor, identityPlaceFor, stsPlaceFor } from '../../../src/s3/credentials/chain.js';
import { ferry, requireBuiltCli } from '../../support/cli.js';
import { type Loopback, readBody, startLoopback } from '../../support/loopback.js';
import { type Moto, startMoto } from '../../support/moto.js';

/**
 * Defect 7a: a web identity token (a bearer secret) or a role assumption must go to AWS STS, or
 * to an STS endpoint given explicitly — never to the custom S3 endpoint, which may be plain HTTP
 * and is run by someone else. The "custom S3 endpoint" here is a loopback server that records
 * every request; STS, when given, is moto_server (auth not enforced: web identity is unsigned).
 */
interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}
let fakeS3: Loopback;
const seen: Seen[] = [];
let moto: Moto;
let roleArn: string;
const TOKEN_MARK = 'ferry-token-must-not-leak';

const stsCalls = () =>
  seen.filter((r) => /Action=AssumeRole|AssumeRoleWithWebIdentity|AssumeRole/.test(`${r.url} ${r.body}`));
const tokenSeen = () => seen.some((r) => `${r.url} ${r.body} ${JSON.stringify(r.headers)}`.includes('eyJ'));

beforeAll(async () => {
  await requireBuiltCli();
  fakeS3 = await startLoopback(async (req, res) => {
    const body = (await readBody(req)).toString();
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
    res.writeHead(404, { 'content-type': 'application/xml' });
    res.end(
      '<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchBucket</Code><Message>none</Message></Error>',
    );
  });
  moto = await startMoto(1_000_000);
  roleArn = JSON.parse(
    await moto.aws(
      'iam',
      'create-role',
      '--role-name',
      'ferry-place',
      '--assume-role-policy-document',
      JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          { Effect: 'Allow', Principal: { AWS: '*' }, Action: 'sts:AssumeRole' },
          {
            Effect: 'Allow',
            Principal: { Federated: 'oidc.example' },
            Action: 'sts:AssumeRoleWithWebIdentity',
          },
        ],
      }),
    ),
  ).Role.Arn;
}, 180_000);

afterAll(async () => {
  await fakeS3?.close();
  await moto?.stop();
});

/** A JWT-shaped token (moto decodes it; nothing here checks the signature). */
function jwt(): string {
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  return `${b64({ alg: 'RS256', typ: 'JWT' })}.${b64({ iss: 'https://oidc.example', sub: TOKEN_MARK, aud: 'sts.amazonaws.com', iat: now, exp: now + 3600 })}.c2ln`;
}

/** A HOME with a token file and no AWS config, and no instance metadata. */
function webIdentityEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const home = mkdtempSync(join(tmpdir(), 'ferry-home-'));
  writeFileSync(join(home, 'token'), jwt());
  return {
    HOME: home,
    PATH: process.env.PATH,
    AWS_WEB_IDENTITY_TOKEN_FILE: join(home, 'token'),
    AWS_ROLE_ARN: roleArn,
    AWS_ROLE_SESSION_NAME: 'pod',
    AWS_EC2_METADATA_SERVICE_ENDPOINT: 'http://127.0.0.1:9',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    ...extra,
  };
}

/** Where the STS call went, from the error: AWS's regional STS (unreachable or refused here). */
const AWS_STS = /sts\.us-east-1\.amazonaws\.com|AWS STS \(us-east-1\)/;

describe('web identity goes to AWS STS unless an STS endpoint is given', () => {
  it('with a custom s3+http:// endpoint and no STS endpoint: the endpoint gets no token', async () => {
    seen.length = 0;
    const conn = parseConnection({ bucket: 'bkt', endpoint: fakeS3.url, region: 'us-east-1' });
    const creds = credentialsFor(conn, webIdentityEnv());
    expect(creds.sts.endpoint).toMatch(/^https:\/\/sts\.us-east-1\.amazonaws\.com$/);
    await expect(creds.provider!()).rejects.toThrow(AWS_STS);
    expect(stsCalls()).toEqual([]);
    expect(tokenSeen()).toBe(false);
  });

  it('the CLI with AWS_ENDPOINT_URL (the AWS tools read it for every service) sends no token there', async () => {
    seen.length = 0;
    const env = webIdentityEnv({ AWS_ENDPOINT_URL: fakeS3.url, AWS_REGION: 'us-east-1' });
    const r = await ferry(['ls', 's3://some-bucket/'], env);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(AWS_STS);
    expect(stsCalls()).toEqual([]);
    expect(tokenSeen()).toBe(false);
    const url = `s3+http://${new URL(fakeS3.url).host}/some-bucket/`;
    const r2 = await ferry(['ls', url], webIdentityEnv({ AWS_REGION: 'us-east-1' }));
    expect(r2.code).not.toBe(0);
    expect(r2.stderr).toMatch(AWS_STS);
    expect(stsCalls()).toEqual([]);
    expect(tokenSeen()).toBe(false);
  });

  it('with AWS_ENDPOINT_URL_STS given (moto), the flow works and S3 sees the role’s key', async () => {
    seen.length = 0;
    const env = webIdentityEnv({
      AWS_ENDPOINT_URL: fakeS3.url,
      AWS_ENDPOINT_URL_STS: moto.url,
      AWS_REGION: 'us-east-1',
    });
    const r = await ferry(['ls', 's3://some-bucket/'], env);
    expect(r.stderr).toMatch(/some-bucket/); // the fake S3 answered NoSuchBucket
    expect(stsCalls()).toEqual([]);
    expect(tokenSeen()).toBe(false);
    const signed = seen.map((s) => String(s.headers.authorization ?? ''));
    expect(signed.length).toBeGreaterThan(0);
    expect(signed.every((a) => /Credential=ASIA/.test(a))).toBe(true);
  });

  it('with the --sts-endpoint setting (moto), credentials come from there', async () => {
    seen.length = 0;
    const conn = parseConnection({ bucket: 'bkt', endpoint: fakeS3.url, stsEndpoint: moto.url });
    const c = await credentialsFor(conn, webIdentityEnv()).provider!();
    expect(c.sessionToken).toBeTruthy();
    expect(seen).toEqual([]);
  });
});

describe('role assumption goes to AWS STS unless an STS endpoint is given', () => {
  const keys = { accessKeyId: 'AKIAPLACETEST0000000', secretAccessKey: 'place-secret' };
  const plainEnv = () => ({
    HOME: mkdtempSync(join(tmpdir(), 'ferry-home-')),
    AWS_EC2_METADATA_SERVICE_ENDPOINT: 'http://127.0.0.1:9',
  });

  it('roleArn on a custom endpoint: AssumeRole is not sent to the endpoint', async () => {
    seen.length = 0;
    const conn = parseConnection({
      bucket: 'bkt',
      endpoint: fakeS3.url,
      roleArn: 'arn:aws:iam::1:role/r',
      ...keys,
    });
    await expect(credentialsFor(conn, plainEnv()).provider!()).rejects.toThrow(AWS_STS);
    expect(seen).toEqual([]);
  });

  it('a role_arn profile on a custom endpoint: AssumeRole is not sent to the endpoint', async () => {
    seen.length = 0;
    const env = plainEnv();
    mkdirSync(join(env.HOME, '.aws'));
    writeFileSync(
      join(env.HOME, '.aws', 'credentials'),
      `[base]\naws_access_key_id = ${keys.accessKeyId}\naws_secret_access_key = ${keys.secretAccessKey}\n`,
    );
    writeFileSync(
      join(env.HOME, '.aws', 'config'),
      '[profile role]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = base\n',
    );
    const conn = parseConnection({ bucket: 'bkt', endpoint: fakeS3.url, profile: 'role' });
    await expect(credentialsFor(conn, env).provider!()).rejects.toThrow();
    expect(seen).toEqual([]);
  });

  it('--role-arn in the CLI with AWS_ENDPOINT_URL: no AssumeRole at the endpoint; with --sts-endpoint it works', async () => {
    seen.length = 0;
    const env = {
      ...plainEnv(),
      PATH: process.env.PATH,
      AWS_ACCESS_KEY_ID: keys.accessKeyId,
      AWS_SECRET_ACCESS_KEY: keys.secretAccessKey,
      AWS_ENDPOINT_URL: fakeS3.url,
      AWS_REGION: 'us-east-1',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    };
    const r = await ferry(['--role-arn', roleArn, 'ls', 's3://some-bucket/'], env);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(AWS_STS);
    expect(stsCalls()).toEqual([]);
    expect(seen).toEqual([]);
    const ok = await ferry(
      ['--role-arn', roleArn, '--sts-endpoint', moto.url, 'ls', 's3://some-bucket/'],
      env,
    );
    expect(ok.stderr).toMatch(/some-bucket/);
    expect(stsCalls()).toEqual([]);
    const signed = seen.map((s) => String(s.headers.authorization ?? ''));
    expect(signed.length).toBeGreaterThan(0);
    expect(signed.every((a) => /Credential=ASIA/.test(a))).toBe(true);
  });
});

describe('stsPlaceFor / identityPlaceFor', () => {
  const custom = (extra: Record<string, unknown> = {}) =>
    parseConnection({ bucket: 'bkt', endpoint: 'http://127.0.0.1:9', ...extra });

  it('AWS regional STS, in the S3 region when it is an AWS region, else us-east-1', () => {
    expect(stsPlaceFor(custom({ region: 'eu-west-1' }), {})).toEqual({
      endpoint: 'https://sts.eu-west-1.amazonaws.com',
      region: 'eu-west-1',
    });
    expect(stsPlaceFor(custom({ region: 'garage' }), {}).endpoint).toBe(
      'https://sts.us-east-1.amazonaws.com',
    );
    expect(stsPlaceFor(custom({ region: 'cn-north-1' }), {}).endpoint).toBe(
      'https://sts.cn-north-1.amazonaws.com.cn',
    );
    expect(stsPlaceFor(custom({ stsRegion: 'ap-south-1' }), {}).endpoint).toBe(
      'https://sts.ap-south-1.amazonaws.com',
    );
    // AWS_ENDPOINT_URL names the S3 store for many users: never STS.
    expect(stsPlaceFor(custom(), { AWS_ENDPOINT_URL: 'http://127.0.0.1:9' }).endpoint).toBe(
      'https://sts.us-east-1.amazonaws.com',
    );
  });

  it('an explicit STS endpoint wins; GetCallerIdentity goes to the custom S3 endpoint otherwise', () => {
    expect(stsPlaceFor(custom({ stsEndpoint: 'http://sts.local:1' }), {}).endpoint).toBe(
      'http://sts.local:1',
    );
    expect(stsPlaceFor(custom(), { AWS_ENDPOINT_URL_STS: 'http://sts.env:2' }).endpoint).toBe(
      'http://sts.env:2',
    );
    expect(identityPlaceFor(custom(), {}).endpoint).toBe('http://127.0.0.1:9');
    expect(identityPlaceFor(custom({ stsEndpoint: 'http://sts.local:1' }), {}).endpoint).toBe(
      'http://sts.local:1',
    );
    expect(identityPlaceFor(parseConnection({ bucket: 'bkt', region: 'eu-west-1' }), {}).endpoint).toBe(
      'https://sts.eu-west-1.amazonaws.com',
    );
  });
});
