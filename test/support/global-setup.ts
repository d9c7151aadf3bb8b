import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import type { TestProject } from 'vitest/node';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '../..');

/**
 * Provide a real S3 server to the tests of the `rgw` project (every test). With
 * FERRY_TEST_S3_ENDPOINT (plus FERRY_TEST_S3_ACCESS_KEY / FERRY_TEST_S3_SECRET_KEY, optionally
 * FERRY_TEST_S3_STS_ENDPOINT and a second identity in FERRY_TEST_S3_ACCESS_KEY_2 /
 * FERRY_TEST_S3_SECRET_KEY_2) the tests use that endpoint; otherwise a one-node Ceph RGW is
 * installed if needed and started on 127.0.0.1 (scripts/rgw/start.sh) and stopped at the end
 * (FERRY_KEEP_RGW=1 keeps it running for the next run). If it cannot be started, the run fails
 * here: no test passes without its server. (dist/ is built by build-setup.ts; Swift, the second
 * implementation, by swift-setup.ts.)
 */
export default async function setup(project: TestProject) {
  if (process.env.FERRY_TEST_S3_ENDPOINT) {
    provide(project, {
      server: 'external',
      endpoint: process.env.FERRY_TEST_S3_ENDPOINT,
      stsEndpoint: process.env.FERRY_TEST_S3_STS_ENDPOINT ?? '',
      accessKeyId: need('FERRY_TEST_S3_ACCESS_KEY'),
      secretAccessKey: need('FERRY_TEST_S3_SECRET_KEY'),
      accessKeyId2: process.env.FERRY_TEST_S3_ACCESS_KEY_2 ?? '',
      secretAccessKey2: process.env.FERRY_TEST_S3_SECRET_KEY_2 ?? '',
      supports: { lifecycle: true, sseC: true, conditionalWrites: true, controlCharPrefixes: true },
      logDir: '',
      cephConf: '',
    });
    return;
  }
  const base = process.env.RGW_BASE ?? join(tmpdir(), 'ferry-test-rgw');
  const env = {
    ...process.env,
    RGW_BASE: base,
    RGW_PORT: process.env.RGW_PORT ?? '17480',
    RGW_STS_PORT: process.env.RGW_STS_PORT ?? '17481',
    RGW_MON_PORT: process.env.RGW_MON_PORT ?? '13300',
    RGW_OSD_PORT_MIN: process.env.RGW_OSD_PORT_MIN ?? '16800',
  };
  const started = Date.now();
  try {
    await run('bash', [join(root, 'scripts/rgw/start.sh')], { env, maxBuffer: 1 << 24 });
  } catch (err) {
    const e = err as { stderr?: string; stdout?: string };
    throw new Error(`could not start the test S3 server (Ceph RGW): ${e.stderr || e.stdout || err}`);
  }
  console.log(`test S3 (Ceph RGW) ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const vars = readEnvFile(join(base, 'rgw.env'));
  provide(project, {
    server: 'rgw',
    endpoint: vars.S3_ENDPOINT!,
    stsEndpoint: vars.S3_STS_ENDPOINT ?? '',
    accessKeyId: vars.AWS_ACCESS_KEY_ID!,
    secretAccessKey: vars.AWS_SECRET_ACCESS_KEY!,
    accessKeyId2: vars.AWS_ACCESS_KEY_ID_2 ?? '',
    secretAccessKey2: vars.AWS_SECRET_ACCESS_KEY_2 ?? '',
    supports: { lifecycle: true, sseC: true, conditionalWrites: true, controlCharPrefixes: true },
    logDir: join(base, 'cluster/log'),
    cephConf: join(base, 'cluster/ceph.conf'),
  });
  return async () => {
    if (process.env.FERRY_KEEP_RGW === '1') return;
    if (existsSync(join(root, 'scripts/rgw/stop.sh')))
      await run('bash', [join(root, 'scripts/rgw/stop.sh')], { env });
  };
}

export interface TestS3 {
  /** The implementation under test (`external`: FERRY_TEST_S3_ENDPOINT). */
  server: 'rgw' | 'swift' | 'external';
  endpoint: string;
  /** '' when the server has no STS (Swift): tests needing one say so (support/s3.ts). */
  stsEndpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** A second identity, refused on the first one's buckets ('' when there is none). */
  accessKeyId2: string;
  secretAccessKey2: string;
  /**
   * What the server implements of what Ferry uses, where implementations differ: a test asserts
   * Ferry's answer to a missing feature (a clear NotSupported) instead of the feature itself.
   */
  supports: {
    /** Bucket lifecycle rules (Swift: PUT → MalformedXML, GET → a bucket listing). */
    lifecycle: boolean;
    /** SSE-C really applied (Swift accepts the headers and stores plaintext). */
    sseC: boolean;
    /** Conditional PUT (If-None-Match: *); Swift answers 501. */
    conditionalWrites: boolean;
    /**
     * Listing below a prefix holding a control character (Swift's s3api answers 500: its XML
     * echo of the prefix fails; Ferry sends no EncodingType=url yet).
     */
    controlCharPrefixes: boolean;
  };
  /** RGW's log folder ('' for an external endpoint). */
  logDir: string;
  cephConf: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    s3: TestS3;
  }
}

function provide(project: TestProject, s3: TestS3) {
  project.provide('s3', s3);
}

/** `NAME='value'` pairs of a shell env file (rgw.env, swift.env). */
export function readEnvFile(file: string): Record<string, string> {
  return Object.fromEntries(
    [...readFileSync(file, 'utf8').matchAll(/([A-Z0-9_]+)='?([^'\s]*)'?/g)].map((m) => [m[1]!, m[2]!]),
  );
}

function need(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} must be set when FERRY_TEST_S3_ENDPOINT is`);
  return v;
}
