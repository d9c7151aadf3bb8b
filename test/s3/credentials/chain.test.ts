import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createS3Client } from '../../../src/s3/client.js';
import { parseConnection, type S3ConnectionInput } from '../../../src/s3/connection.js';
import { credentialsFor } from '../../../src/s3/credentials/chain.js';
import { S3Storage } from '../../../src/storage/s3/s3-storage.js';
import { TEST_BUCKET, testS3 } from '../../support/s3.js';

const ROLE = 'arn:aws:iam:::role/S3Access'; // RGW role assumable by user `test`

/** A temporary HOME with real ~/.aws/credentials and ~/.aws/config files. */
function awsHome(credentials: string, config = ''): NodeJS.ProcessEnv {
  const home = mkdtempSync(join(tmpdir(), 'ferry-home-'));
  mkdirSync(join(home, '.aws'));
  writeFileSync(join(home, '.aws', 'credentials'), credentials);
  writeFileSync(join(home, '.aws', 'config'), config);
  // No instance metadata here: a closed port answers at once.
  return { HOME: home, PATH: process.env.PATH, AWS_EC2_METADATA_SERVICE_ENDPOINT: 'http://127.0.0.1:9' };
}

function keysProfile(name = 'ferry') {
  const s3 = testS3();
  return `[${name}]\naws_access_key_id = ${s3.accessKeyId}\naws_secret_access_key = ${s3.secretAccessKey}\n`;
}

async function open(conn: Partial<S3ConnectionInput>, env: NodeJS.ProcessEnv) {
  const c = parseConnection({
    bucket: TEST_BUCKET,
    endpoint: testS3().endpoint,
    region: 'us-east-1',
    ...conn,
  });
  const creds = credentialsFor(c, env);
  const storage = new S3Storage(createS3Client(c, env, { credentials: creds }), c);
  return { storage, creds };
}

describe('static keys', () => {
  it('work, and are what auto picks when the connection has them', async () => {
    const { storage, creds } = await open(
      { accessKeyId: testS3().accessKeyId, secretAccessKey: testS3().secretAccessKey },
      awsHome(''),
    );
    await storage.stat('');
    expect(creds.source()?.name).toBe('static');
    await storage.close();
  });
  it('a wrong secret is named as such', async () => {
    const { storage } = await open(
      { accessKeyId: testS3().accessKeyId, secretAccessKey: 'nope' },
      awsHome(''),
    );
    await expect(storage.stat('')).rejects.toThrow(/wrong secret key/);
    await storage.close();
  });
  it('--credentials static without keys is refused when the connection is built', () => {
    expect(() => parseConnection({ bucket: TEST_BUCKET, credentialSource: 'static' })).toThrow(
      /static" needs an access key/,
    );
  });
});

describe('environment', () => {
  it('AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY come before profiles in the default order', async () => {
    const env = {
      ...awsHome(keysProfile('default')),
      AWS_ACCESS_KEY_ID: testS3().accessKeyId,
      AWS_SECRET_ACCESS_KEY: testS3().secretAccessKey,
    };
    const { storage, creds } = await open({}, env);
    await storage.stat('');
    expect(creds.source()?.name).toBe('env');
    await storage.close();
  });
  it('half a key pair is an error that says which half is missing', async () => {
    const env = { ...awsHome(keysProfile('default')), AWS_ACCESS_KEY_ID: testS3().accessKeyId };
    const { storage } = await open({}, env);
    await expect(storage.stat('')).rejects.toThrow(
      /AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not/,
    );
    await storage.close();
  });
});

describe('profiles in ~/.aws', () => {
  it('AWS_PROFILE selects a keys profile', async () => {
    const env = {
      ...awsHome(`[default]\naws_access_key_id = WRONG\naws_secret_access_key = WRONG\n${keysProfile()}`),
      AWS_PROFILE: 'ferry',
    };
    const { storage, creds } = await open({}, env);
    await storage.stat('');
    expect(creds.source()?.name).toBe('profile');
    expect(creds.source()?.detail).toContain('"ferry"');
    await storage.close();
  });

  it('role_arn + source_profile + external_id assume the role at the STS endpoint', async () => {
    const sts = testS3().stsEndpoint;
    const env = awsHome(
      keysProfile('base'),
      `[profile role]\nrole_arn = ${ROLE}\nsource_profile = base\nexternal_id = ext-123\nrole_session_name = ferry-test\n`,
    );
    const { storage, creds } = await open({ profile: 'role', endpoint: sts, stsEndpoint: sts }, env);
    await storage.stat('');
    const c = await creds.provider!();
    expect(c.sessionToken).toBeTruthy();
    expect(c.expiration!.getTime()).toBeGreaterThan(Date.now());
    await storage.close();
  });

  it('credential_process runs the program and uses what it prints', async () => {
    const env = awsHome('', '');
    const script = join(env.HOME!, 'creds.sh');
    writeFileSync(
      script,
      `#!/bin/sh\necho '{"Version": 1, "AccessKeyId": "${testS3().accessKeyId}", "SecretAccessKey": "${testS3().secretAccessKey}"}'\n`,
    );
    chmodSync(script, 0o755);
    writeFileSync(join(env.HOME!, '.aws', 'config'), `[profile proc]\ncredential_process = ${script}\n`);
    const { storage } = await open({ profile: 'proc' }, env);
    await storage.stat('');
    await storage.close();
  });

  it('mfa_serial without a code and without a terminal asks for --mfa-token', async () => {
    const sts = testS3().stsEndpoint;
    const env = awsHome(
      keysProfile('base'),
      `[profile mfa]\nrole_arn = ${ROLE}\nsource_profile = base\nmfa_serial = arn:aws:iam:::mfa/test\n`,
    );
    const { storage } = await open({ profile: 'mfa', endpoint: sts, stsEndpoint: sts }, env);
    await expect(storage.stat('')).rejects.toThrow(/MFA code for arn:aws:iam:::mfa\/test: pass --mfa-token/);
    await storage.close();
  });

  it('an explicitly named profile that does not exist is an error naming both files', async () => {
    const { storage } = await open({ profile: 'nosuch' }, awsHome(keysProfile()));
    await expect(storage.stat('')).rejects.toThrow(/no profile "nosuch" in .*credentials or .*config/);
    await storage.close();
  });
});

describe('AssumeRole on top of a source (RGW STS)', () => {
  it('assumes the role with session name, duration and external id; S3 sees the role', async () => {
    const sts = testS3().stsEndpoint;
    const env = {
      ...awsHome(''),
      AWS_ACCESS_KEY_ID: testS3().accessKeyId,
      AWS_SECRET_ACCESS_KEY: testS3().secretAccessKey,
    };
    const { storage, creds } = await open(
      {
        endpoint: sts,
        stsEndpoint: sts, // role assumption never goes to the S3 endpoint by default (defect 7a)
        roleArn: ROLE,
        externalId: 'ext-123',
        roleSessionName: 'ferry-it',
        roleDurationSeconds: 900,
      },
      env,
    );
    await storage.write('i3-assume/x', Buffer.from('x'));
    await storage.remove('i3-assume/x');
    expect(creds.source()?.name).toBe('env+assume-role');
    const c = await creds.provider!();
    expect(c.accessKeyId).not.toBe(testS3().accessKeyId);
    expect(c.expiration!.getTime() - Date.now()).toBeLessThanOrEqual(900_000);
    await storage.close();
  });

  it('a role the user may not assume is refused with the role named', async () => {
    const sts = testS3().stsEndpoint;
    const env = {
      ...awsHome(''),
      AWS_ACCESS_KEY_ID: testS3().accessKeyId,
      AWS_SECRET_ACCESS_KEY: testS3().secretAccessKey,
    };
    const { storage } = await open(
      { endpoint: sts, stsEndpoint: sts, roleArn: 'arn:aws:iam:::role/NoSuchRole' },
      env,
    );
    await expect(storage.stat('')).rejects.toThrow(/AssumeRole arn:aws:iam:::role\/NoSuchRole at http/);
    await storage.close();
  });
});

describe('renewal re-reads the source', () => {
  // Renew on every call, as if each set were about to expire.
  const eager = { refresh: { aheadMs: Number.MAX_SAFE_INTEGER, aheadFraction: 1 } };
  const soon = () => new Date(Date.now() + 60_000).toISOString();

  it('environment: rotated variables (with AWS_CREDENTIAL_EXPIRATION) are picked up', async () => {
    const env: NodeJS.ProcessEnv = {
      ...awsHome(''),
      AWS_ACCESS_KEY_ID: 'K1',
      AWS_SECRET_ACCESS_KEY: 's1',
      AWS_CREDENTIAL_EXPIRATION: soon(),
    };
    const creds = credentialsFor(parseConnection({ bucket: TEST_BUCKET }), env, eager);
    expect((await creds.provider!()).accessKeyId).toBe('K1');
    Object.assign(env, {
      AWS_ACCESS_KEY_ID: 'K2',
      AWS_SECRET_ACCESS_KEY: 's2',
      AWS_CREDENTIAL_EXPIRATION: soon(),
    });
    expect((await creds.provider!()).accessKeyId).toBe('K2');
  });

  it('profile: a rewritten credentials file is read again', async () => {
    const env = awsHome(`[p]\naws_access_key_id = K1\naws_secret_access_key = s1\naws_session_token = t1\n`);
    const creds = credentialsFor(parseConnection({ bucket: TEST_BUCKET, profile: 'p' }), env, eager);
    expect((await creds.provider!()).accessKeyId).toBe('K1');
    writeFileSync(
      join(env.HOME!, '.aws', 'credentials'),
      `[p]\naws_access_key_id = K2\naws_secret_access_key = s2\n`,
    );
    // Static profile keys carry no expiry, so the cache keeps them: renewal is by expiry only.
    expect((await creds.provider!()).accessKeyId).toBe('K1');
    const fresh = credentialsFor(parseConnection({ bucket: TEST_BUCKET, profile: 'p' }), env, eager);
    expect((await fresh.provider!()).accessKeyId).toBe('K2');
  });
});

describe('anonymous', () => {
  it('sends unsigned requests: a public-read object can be read, a private one cannot', async () => {
    const owner = await open(
      {
        ...{ accessKeyId: testS3().accessKeyId, secretAccessKey: testS3().secretAccessKey },
        acl: 'public-read',
        prefix: 'i3-anon',
      },
      awsHome(''),
    );
    await owner.storage.write('pub.txt', Buffer.from('public'));
    const anon = await open({ credentialSource: 'anonymous', prefix: 'i3-anon' }, awsHome(''));
    const chunks: Buffer[] = [];
    for await (const c of await anon.storage.read('pub.txt')) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe('public');
    expect(anon.creds.source()?.name).toBe('anonymous');
    await expect(anon.storage.stat('')).rejects.toThrow(/access denied/);
    await owner.storage.remove('pub.txt');
    await owner.storage.close();
    await anon.storage.close();
  });
});

describe('the default chain', () => {
  it('with nothing configured, says what it tried', async () => {
    const { storage } = await open({}, awsHome(''));
    await expect(storage.stat('')).rejects.toThrow(
      /no S3 credentials found\. Tried env: .*; profile: .*; web-identity: .*; ecs: .*; imds: /,
    );
    await storage.close();
  });
});
