import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import type { TestProject } from 'vitest/node';
import { readEnvFile } from './global-setup.js';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '../..');

/**
 * The `swift` project's S3 server: OpenStack Swift's s3api, a second, independently written S3
 * front end, so that what passes only because RGW does it that way shows. Installed from Debian's
 * packages if needed, started on 127.0.0.1 (scripts/swift/start.sh; ports SWIFT_S3_PORT=18080
 * and 16200–16202, 16211) and stopped at the end unless FERRY_KEEP_SWIFT=1 (or FERRY_KEEP_RGW=1:
 * "keep the test servers") keeps it for the next run. SWIFT_S3_BASE picks its folder.
 * No STS; a second identity test:tester2. If it cannot be started, the run fails here.
 */
export default async function setup(project: TestProject) {
  const base = process.env.SWIFT_S3_BASE ?? join(tmpdir(), 'ferry-test-swift');
  const env = { ...process.env, SWIFT_S3_BASE: base };
  const started = Date.now();
  try {
    await run('bash', [join(root, 'scripts/swift/start.sh')], { env, maxBuffer: 1 << 24 });
  } catch (err) {
    const e = err as { stderr?: string; stdout?: string };
    throw new Error(`could not start the second test S3 server (Swift): ${e.stderr || e.stdout || err}`);
  }
  console.log(`test S3 #2 (Swift s3api) ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const vars = readEnvFile(join(base, 'swift.env'));
  project.provide('s3', {
    server: 'swift',
    endpoint: vars.S3_ENDPOINT!,
    stsEndpoint: '',
    accessKeyId: vars.AWS_ACCESS_KEY_ID!,
    secretAccessKey: vars.AWS_SECRET_ACCESS_KEY!,
    accessKeyId2: vars.AWS_ACCESS_KEY_ID_2 ?? '',
    secretAccessKey2: vars.AWS_SECRET_ACCESS_KEY_2 ?? '',
    supports: { lifecycle: false, sseC: false, conditionalWrites: false, controlCharPrefixes: false },
    logDir: join(base, 'log'),
    cephConf: '',
  });
  return async () => {
    if ((process.env.FERRY_KEEP_SWIFT ?? process.env.FERRY_KEEP_RGW) === '1') return;
    if (existsSync(join(root, 'scripts/swift/stop.sh')))
      await run('bash', [join(root, 'scripts/swift/stop.sh')], { env });
  };
}
