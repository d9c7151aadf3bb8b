import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { connectionFromUrl, s3ConnectionFlags } from '../../src/s3/connection.js';
import { s3ConnectionSchema } from '../../src/s3/connection-schema.js';
import { namedConnection } from '../../src/s3/connections-file.js';
import { requireBuiltCli } from '../support/cli.js';
import { TEST_BUCKET, testS3 } from '../support/s3.js';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '../..');

/** Settings that are deliberately not flags: bucket and prefix come from the URL. */
const NOT_FLAGS = ['bucket', 'prefix', 'multipartCopyPartSize'];

describe('the connection declaration', () => {
  it('every setting of the schema has a CLI flag with help (or is given by the URL)', () => {
    const keys = Object.keys(s3ConnectionSchema.shape);
    const flagged = new Set(s3ConnectionFlags.map((f) => f.key));
    expect(keys.filter((k) => !flagged.has(k as never) && !NOT_FLAGS.includes(k))).toEqual([]);
    for (const f of s3ConnectionFlags) expect(f.help.length).toBeGreaterThan(10);
  });

  it('defaults: ListObjectsV2, bucket checked at login, 3600 s role sessions, IMDSv1 off', () => {
    const c = s3ConnectionSchema.parse({ bucket: 'bkt' });
    expect(c).toMatchObject({
      listVersion: 2,
      noCheckBucket: false,
      roleDurationSeconds: 3600,
      imdsV1Fallback: false,
      credentialSource: 'auto',
    });
  });

  it('URL keys, and iam_lookup:lookup for the instance role', () => {
    expect(connectionFromUrl('s3+http://AK:SEC%40RET@127.0.0.1:7480/bkt/p', {}, {})).toMatchObject({
      accessKeyId: 'AK',
      secretAccessKey: 'SEC@RET',
      credentialSource: 'auto',
    });
    const lookup = connectionFromUrl('s3://iam_lookup:lookup@s3.eu-west-1.amazonaws.com/bkt/p', {}, {});
    expect(lookup).toMatchObject({ credentialSource: 'imds', region: 'eu-west-1', endpoint: undefined });
    expect(lookup.accessKeyId).toBeUndefined();
  });
});

describe('named connections (~/.config/ferry/connections.json)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-conf-'));
  const file = join(dir, 'connections.json');
  writeFileSync(
    file,
    JSON.stringify({
      backup: {
        url: 's3://backups/ferry',
        endpoint: 'https://s3.example.com',
        sse: 'AES256',
        storageClass: 'STANDARD_IA',
      },
      plain: { bucket: 'plain-bucket', prefix: 'x', region: 'eu-west-1' },
    }),
  );
  const env = { FERRY_CONNECTIONS: file };

  it('gives bucket and prefix from its URL, and every other setting; flags win', () => {
    expect(namedConnection('backup', { storageClass: 'GLACIER_IR' }, env)).toMatchObject({
      bucket: 'backups',
      prefix: 'ferry',
      endpoint: 'https://s3.example.com',
      sse: 'AES256',
      storageClass: 'GLACIER_IR',
    });
    expect(namedConnection('plain', {}, env)).toMatchObject({
      bucket: 'plain-bucket',
      prefix: 'x',
      region: 'eu-west-1',
    });
  });

  it('an unknown name lists the known ones', () => {
    expect(() => namedConnection('nope', {}, env)).toThrow(
      /no connection named "nope" in .*connections\.json \(known: backup, plain\)/,
    );
  });

  it('a bad setting in the file is named', () => {
    writeFileSync(join(dir, 'bad.json'), JSON.stringify({ bad: { bucket: 'bkt', sse: 'rot13' } }));
    expect(() => namedConnection('bad', {}, { FERRY_CONNECTIONS: join(dir, 'bad.json') })).toThrow(
      /invalid S3 connection: sse:/,
    );
  });
});

describe('ferry CLI: doctor, whoami and connection flags', () => {
  // dist/ is built once by the global setup; rebuilding here would race other files' CLI runs.
  beforeAll(requireBuiltCli);

  const ferry = async (args: string[], env: NodeJS.ProcessEnv) => {
    try {
      const r = await run('node', [join(root, 'bin/ferry.js'), ...args], {
        env: { PATH: process.env.PATH, ...env },
      });
      return { code: 0, stdout: r.stdout, stderr: r.stderr };
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  };

  it('doctor --json on a named connection with its keys in the file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-conf-'));
    const file = join(dir, 'connections.json');
    const s3 = testS3();
    writeFileSync(
      file,
      JSON.stringify({
        main: {
          url: `s3://${TEST_BUCKET}/i3-cli`,
          endpoint: s3.endpoint,
          accessKeyId: s3.accessKeyId,
          secretAccessKey: s3.secretAccessKey,
        },
      }),
    );
    const r = await ferry(['doctor', 'main', '--json'], { HOME: dir, FERRY_CONNECTIONS: file });
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.access).toBe('full');
    expect(report.credentials.source).toBe('static');
    // And --connection NAME serves the file commands too.
    const ls = await ferry(['--connection', 'main', 'ls', `s3://${TEST_BUCKET}/`], {
      HOME: dir,
      FERRY_CONNECTIONS: file,
    });
    expect(ls.code).toBe(0);
  });

  it('doctor with no credentials anywhere: exit 4 and the sources tried', async () => {
    const home = mkdtempSync(join(tmpdir(), 'ferry-home-'));
    const r = await ferry(['doctor', `s3://${TEST_BUCKET}/x`, '--endpoint', testS3().endpoint], {
      HOME: home,
      AWS_EC2_METADATA_SERVICE_ENDPOINT: 'http://127.0.0.1:9',
    });
    expect(r.code).toBe(4);
    expect(r.stdout).toMatch(/credentials\s+auto: ERROR no S3 credentials found\. Tried env/);
  });

  it('whoami names the source', async () => {
    const home = mkdtempSync(join(tmpdir(), 'ferry-home-'));
    const r = await ferry(['whoami', '--json', `s3://${TEST_BUCKET}/`, '--endpoint', testS3().endpoint], {
      HOME: home,
      AWS_ACCESS_KEY_ID: testS3().accessKeyId,
      AWS_SECRET_ACCESS_KEY: testS3().secretAccessKey,
    });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ source: 'env', expiration: null });
  });

  it('--insecure warns; an unreadable --ca-bundle is a clear error', async () => {
    const home = mkdtempSync(join(tmpdir(), 'ferry-home-'));
    const env = { HOME: home, AWS_ACCESS_KEY_ID: 'a', AWS_SECRET_ACCESS_KEY: 'b' };
    const insecure = await ferry(['--insecure', '--endpoint', 'https://127.0.0.1:9', 'ls', 's3://bkt/'], env);
    expect(insecure.stderr).toMatch(/warning: TLS certificate checks are OFF/);
    const ca = await ferry(
      ['--ca-bundle', '/nonexistent.pem', '--endpoint', 'https://127.0.0.1:9', 'ls', 's3://bkt/'],
      env,
    );
    expect(ca.code).toBe(2);
    expect(ca.stderr).toMatch(/cannot read the CA bundle \/nonexistent\.pem/);
  });
});
