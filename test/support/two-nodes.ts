import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { curl, ServeProcess, serverEnv } from '../server/serve-process.js';
import { requireBuiltCli } from './cli.js';
import { freshPostgresUrl } from './postgres.js';
import { credentialUrl, TEST_BUCKET, testS3 } from './s3.js';

/** Two `ferry serve` processes on one PostgreSQL database (startTwoNodes). */
export interface TwoNodes {
  /** The test's folder: the nodes' data folders are `a/` and `b/` in it. */
  dir: string;
  /** Both nodes' environment (serverEnv): for the admin CLI on either data folder too. */
  env: NodeJS.ProcessEnv;
  a: ServeProcess;
  b: ServeProcess;
  urlA: string;
  urlB: string;
  /** Stop both. */
  close(): Promise<void>;
}

/**
 * Two `ferry serve` processes on one fresh PostgreSQL database (the several-nodes deployment of
 * docs/server.md), HTTP on loopback, data folders `dir/a` and `dir/b`, homes in the test bucket
 * under `homes`, admin password `adminPassword`, `env` added to their environment. Started
 * together: they migrate one database and create one first admin between them. A failed start
 * stops both.
 */
export async function startTwoNodes(options: {
  /** The test folder's name starts with it. */
  name: string;
  /** Where the homes are: `<test bucket>/<homes>`. */
  homes: string;
  adminPassword: string;
  env?: Record<string, string>;
}): Promise<TwoNodes> {
  await requireBuiltCli();
  const dir = mkdtempSync(join(tmpdir(), `${options.name}-`));
  const s3 = testS3();
  const env = serverEnv({
    FERRY_DATABASE: await freshPostgresUrl(),
    FERRY_SECRET_KEY: randomBytes(32).toString('hex'),
    FERRY_STORAGE: credentialUrl(
      { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
      `${TEST_BUCKET}/${options.homes}`,
    ),
    ...options.env,
    FERRY_ADMIN_PASSWORD: options.adminPassword,
  });
  for (const n of ['a', 'b']) mkdirSync(join(dir, n));
  const a = new ServeProcess(['--http', '127.0.0.1:0', '--data', join(dir, 'a')], { cwd: dir, env });
  const b = new ServeProcess(['--http', '127.0.0.1:0', '--data', join(dir, 'b')], { cwd: dir, env });
  const close = async () => {
    await Promise.all([a.close(), b.close()]);
  };
  try {
    const [urlA, urlB] = await Promise.all([a.httpUrl(), b.httpUrl()]);
    return { dir, env, a, b, urlA, urlB, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/** Log in as `admin` on the node at `url`, the session cookie kept in `cookieJar` (curl -c). */
export function loginAdmin(
  url: string,
  password: string,
  cookieJar: string,
): Promise<{ status: number; body: string }> {
  return curl([
    '-H',
    'content-type: application/json',
    '-d',
    JSON.stringify({ username: 'admin', password }),
    '-c',
    cookieJar,
    `${url}/api/v1/admin/login`,
  ]);
}
