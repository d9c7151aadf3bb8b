import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConnection } from '../../../src/s3/connection.js';
import { credentialsFor } from '../../../src/s3/credentials/chain.js';
import { getCallerIdentity } from '../../../src/s3/credentials/sts.js';
import { runDoctor } from '../../../src/s3/doctor.js';
import { type Loopback, readBody, startLoopback } from '../../support/loopback.js';
import { type Moto, startMoto } from '../../support/moto.js';

let moto: Moto;
let proxy: Loopback;
/**
 * moto with auth enforced crashes on an unsigned AssumeRoleWithWebIdentity (KeyError
 * HTTP_AUTHORIZATION, a 500; the aws CLI hits the same), and that call is unsigned by design. So
 * web identity runs against a second moto that does not enforce auth.
 */
let openMoto: Moto;
let openProxy: Loopback;
let openRoleArn: string;
/** Form bodies of the STS calls that went through the recording proxy. */
const calls: URLSearchParams[] = [];
let keys: { accessKeyId: string; secretAccessKey: string };
let roleArn: string;

beforeAll(async () => {
  moto = await startMoto(4);
  await moto.aws('iam', 'create-user', '--user-name', 'ferry');
  const key = JSON.parse(await moto.aws('iam', 'create-access-key', '--user-name', 'ferry')).AccessKey;
  keys = { accessKeyId: key.AccessKeyId, secretAccessKey: key.SecretAccessKey };
  await moto.aws(
    'iam',
    'put-user-policy',
    '--user-name',
    'ferry',
    '--policy-name',
    'sts',
    '--policy-document',
    JSON.stringify({
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Action: ['sts:*'], Resource: '*' }],
    }),
  );
  const trust = {
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Principal: { AWS: '*' },
        Action: 'sts:AssumeRole',
        Condition: { StringEquals: { 'sts:ExternalId': 'ext-42' } },
      },
      { Effect: 'Allow', Principal: { Federated: 'oidc.example' }, Action: 'sts:AssumeRoleWithWebIdentity' },
    ],
  };
  roleArn = JSON.parse(
    await moto.aws(
      'iam',
      'create-role',
      '--role-name',
      'ferry-role',
      '--assume-role-policy-document',
      JSON.stringify(trust),
    ),
  ).Role.Arn;
  proxy = await recordingProxy(moto.url);
  openMoto = await startMoto(1_000_000);
  openRoleArn = JSON.parse(
    await openMoto.aws(
      'iam',
      'create-role',
      '--role-name',
      'ferry-role',
      '--assume-role-policy-document',
      JSON.stringify(trust),
    ),
  ).Role.Arn;
  openProxy = await recordingProxy(openMoto.url);
}, 180_000);

/** Records each STS call's form body, then forwards it unchanged. */
function recordingProxy(url: string): Promise<Loopback> {
  const target = new URL(url);
  return startLoopback(async (req, res) => {
    const body = await readBody(req);
    calls.push(new URLSearchParams(body.toString()));
    const up = http.request(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
      (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      },
    );
    up.end(body);
  });
}

afterAll(async () => {
  await proxy?.close();
  await openProxy?.close();
  await moto?.stop();
  await openMoto?.stop();
});

const home = () => mkdtempSync(join(tmpdir(), 'ferry-home-'));

/** A JWT-shaped token (moto decodes it; nothing here checks the signature). */
function jwt(sub: string): string {
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  return `${b64({ alg: 'RS256', typ: 'JWT' })}.${b64({ iss: 'https://oidc.example', sub, aud: 'sts.amazonaws.com', iat: now, exp: now + 3600 })}.c2ln`;
}

describe('STS flows on moto_server (SigV4 and IAM enforced)', () => {
  it('GetCallerIdentity names the user', async () => {
    const id = await getCallerIdentity({ endpoint: proxy.url }, async () => keys);
    expect(id.arn).toMatch(/:user\/ferry$/);
  });

  it('a wrong secret is refused by STS, and said so', async () => {
    await expect(
      getCallerIdentity({ endpoint: proxy.url }, async () => ({ ...keys, secretAccessKey: 'wrong' })),
    ).rejects.toThrow(/GetCallerIdentity at http.* was refused/);
  });

  it('AssumeRole sends the external id, session name and duration, and yields the role', async () => {
    const conn = parseConnection({
      bucket: 'any-bucket',
      endpoint: 'http://127.0.0.1:9', // S3 is not used here
      stsEndpoint: proxy.url,
      roleArn,
      externalId: 'ext-42',
      roleSessionName: 'ferry-session',
      ...keys,
    });
    const creds = credentialsFor(conn, { HOME: home() });
    const c = await creds.provider!();
    expect(c.sessionToken).toBeTruthy();
    expect(c.expiration).toBeInstanceOf(Date);
    const sent = calls.filter((p) => p.get('Action') === 'AssumeRole').at(-1)!;
    expect(sent.get('ExternalId')).toBe('ext-42');
    expect(sent.get('RoleSessionName')).toBe('ferry-session');
    expect(sent.get('DurationSeconds')).toBe('3600');
    const id = await getCallerIdentity({ endpoint: proxy.url }, async () => c);
    expect(id.arn).toMatch(/assumed-role\/ferry-role\/ferry-session$/);
    expect(creds.source()?.name).toBe('static+assume-role');
  });

  it('a profile with role_arn, source_profile, external_id and mfa_serial sends the MFA code given with --mfa-token', async () => {
    const dir = home();
    mkdirSync(join(dir, '.aws'));
    writeFileSync(
      join(dir, '.aws', 'credentials'),
      `[base]\naws_access_key_id = ${keys.accessKeyId}\naws_secret_access_key = ${keys.secretAccessKey}\n`,
    );
    writeFileSync(
      join(dir, '.aws', 'config'),
      `[profile mfa]\nrole_arn = ${roleArn}\nsource_profile = base\nexternal_id = ext-42\nmfa_serial = arn:aws:iam::123456789012:mfa/ferry\n`,
    );
    const conn = parseConnection({
      bucket: 'any-bucket',
      endpoint: 'http://127.0.0.1:9',
      stsEndpoint: proxy.url,
      profile: 'mfa',
      mfaToken: '123456',
    });
    const creds = credentialsFor(conn, { HOME: dir });
    const c = await creds.provider!();
    expect(c.sessionToken).toBeTruthy();
    const sent = calls.filter((p) => p.get('Action') === 'AssumeRole').at(-1)!;
    expect(sent.get('SerialNumber')).toBe('arn:aws:iam::123456789012:mfa/ferry');
    expect(sent.get('TokenCode')).toBe('123456');
    expect(sent.get('ExternalId')).toBe('ext-42');
    expect(creds.source()?.name).toBe('profile');
  });

  it('a wrong external id is refused by the trust policy, with the role named', async () => {
    const conn = parseConnection({
      bucket: 'any-bucket',
      endpoint: 'http://127.0.0.1:9',
      stsEndpoint: proxy.url,
      roleArn,
      externalId: 'wrong-id',
      ...keys,
    });
    await expect(credentialsFor(conn, { HOME: home() }).provider!()).rejects.toThrow(
      /AssumeRole .*ferry-role at http.* (was refused|failed)/,
    );
  });

  it('AssumeRoleWithWebIdentity reads the token file again on every refresh', async () => {
    const dir = home();
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, jwt('one'));
    const env = {
      HOME: dir,
      AWS_WEB_IDENTITY_TOKEN_FILE: tokenFile,
      AWS_ROLE_ARN: openRoleArn,
      AWS_ROLE_SESSION_NAME: 'pod-1',
    };
    const conn = parseConnection({
      bucket: 'any-bucket',
      endpoint: 'http://127.0.0.1:9',
      stsEndpoint: openProxy.url,
    });
    // Refresh at once: every call renews, as if each set were about to expire.
    const creds = credentialsFor(conn, env, {
      refresh: { aheadMs: Number.MAX_SAFE_INTEGER, aheadFraction: 1 },
    });
    const first = await creds.provider!();
    expect(creds.source()?.name).toBe('web-identity');
    writeFileSync(tokenFile, jwt('two')); // the kubelet rotated the projected token
    const second = await creds.provider!();
    expect(second.accessKeyId).not.toBe(first.accessKeyId);
    const tokens = calls
      .filter((p) => p.get('Action') === 'AssumeRoleWithWebIdentity')
      .map((p) => p.get('WebIdentityToken'));
    expect(
      tokens.slice(-2).map((t) => JSON.parse(Buffer.from(t!.split('.')[1]!, 'base64url').toString()).sub),
    ).toEqual(['one', 'two']);
    const id = await getCallerIdentity({ endpoint: openProxy.url }, async () => second);
    expect(id.arn).toMatch(/assumed-role\/ferry-role\/pod-1$/);
  });

  it('web identity with a token file but no AWS_ROLE_ARN is a clear error', async () => {
    const dir = home();
    writeFileSync(join(dir, 'token'), 'jwt');
    const conn = parseConnection({
      bucket: 'any-bucket',
      credentialSource: 'web-identity',
      stsEndpoint: proxy.url,
    });
    const creds = credentialsFor(conn, { HOME: dir, AWS_WEB_IDENTITY_TOKEN_FILE: join(dir, 'token') });
    await expect(creds.provider!()).rejects.toThrow(/AWS_ROLE_ARN is not set/);
  });

  it('doctor shows the identity where the store has GetCallerIdentity (moto)', async () => {
    await openMoto.aws('s3api', 'create-bucket', '--bucket', 'ferry-doctor-id');
    const conn = parseConnection({
      bucket: 'ferry-doctor-id',
      endpoint: openMoto.url,
      accessKeyId: 'AKIAMOTOUSER00000000',
      secretAccessKey: 'x',
    });
    const r = await runDoctor(conn, { HOME: home() });
    expect(r.identity?.arn).toMatch(/^arn:aws:(iam|sts)::123456789012:/);
    expect(r.identity?.error).toBeUndefined();
    expect(r.access).toBe('full');
  });
});
