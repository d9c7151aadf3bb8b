import { execFile, spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import type { S3Client } from '@aws-sdk/client-s3';
import { createS3Client } from '../../src/s3/client.js';
import type { S3Connection } from '../../src/s3/connection.js';
import { startFaultProxy } from './fault-proxy.js';
import { ensureBucket, testS3 } from './s3.js';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '../..');
export const ferryBin = resolve(root, 'bin/ferry.js');

/**
 * The CLI tests run `bin/ferry.js`, i.e. dist/, which the global setup compiles once before any
 * test file starts (test/support/global-setup.ts). Never rebuild from a test: other files run in
 * parallel, and a `ferry` they spawn while tsc rewrites dist/ loads half-written modules (that is
 * what made `ferry rmdir` exit 1 once in CI).
 */
export async function requireBuiltCli(): Promise<void> {
  await run(process.execPath, [ferryBin, '--version'], { cwd: root }).catch((err: Error) => {
    throw new Error(`bin/ferry.js does not run (is dist/ built?): ${err.message}`);
  });
}

/** Environment for the CLI: the test S3 server's keys, a private state folder. */
export function cliEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const s3 = testS3();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    AWS_ACCESS_KEY_ID: s3.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
    AWS_REGION: 'us-east-1',
    AWS_ENDPOINT_URL: s3.endpoint,
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    ...extra,
  };
  delete env.AWS_CA_BUNDLE;
  return env;
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run `ferry …` to completion. */
export function ferry(args: string[], env: NodeJS.ProcessEnv = cliEnv()): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [ferryBin, ...args], { env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolvePromise({ code: code ?? -1, stdout, stderr }));
  });
}

/** What the CLI tests that cut transfers short share (`cliFaultRig`). */
export interface CliFaultRig {
  /** A raw client on the test S3 (straight, not through the proxy). */
  client: S3Client;
  /** A fault proxy in front of the test S3: give the CLI `--endpoint proxy.endpoint`. */
  proxy: Awaited<ReturnType<typeof startFaultProxy>>;
  /** A temp folder for the test's files; the CLI's state folder is `dir/state`. */
  dir: string;
  /** `cliEnv` with FERRY_STATE_DIR in `dir`. */
  env: NodeJS.ProcessEnv;
  /** Stop the proxy, the client, remove `dir`. */
  close(): Promise<void>;
}

/**
 * The set-up of the CLI tests that kill or interrupt transfers: `conn`'s bucket made, a fault
 * proxy in front of the test S3, a temp folder (named from `tempPrefix`) holding the CLI's state,
 * and the built CLI checked.
 */
export async function cliFaultRig(conn: S3Connection, tempPrefix: string): Promise<CliFaultRig> {
  const client = createS3Client(conn);
  let proxy: CliFaultRig['proxy'] | undefined;
  let dir: string | undefined;
  const close = async () => {
    await proxy?.close();
    client.destroy();
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  };
  try {
    await ensureBucket(client, conn.bucket);
    proxy = await startFaultProxy(testS3().endpoint);
    dir = await fs.mkdtemp(join(tmpdir(), tempPrefix));
    const env = cliEnv({ FERRY_STATE_DIR: join(dir, 'state') });
    await requireBuiltCli();
    return { client, proxy, dir, env, close };
  } catch (err) {
    await close();
    throw err;
  }
}
