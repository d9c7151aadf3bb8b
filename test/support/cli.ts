import { execFile, spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { testS3 } from './s3.js';

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
