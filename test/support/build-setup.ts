import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '../..');

/**
 * The CLI tests run bin/ferry.js (dist/): compile it once, before any test file of any project
 * starts (this is the root config's global setup; each project's own setup starts its S3 server).
 * FERRY_TEST_SKIP_BUILD=1 skips it (scripts/test.sh has just built).
 */
export default async function setup() {
  if (process.env.FERRY_TEST_SKIP_BUILD === '1') return;
  await run('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: root }).catch((err: { stdout?: string }) => {
    throw new Error(`building dist/ for the CLI tests failed: ${err.stdout ?? err}`);
  });
}
