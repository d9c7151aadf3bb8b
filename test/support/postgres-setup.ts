import { execFile } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { TestProject } from 'vitest/node';

const run = promisify(execFile);

/**
 * A throw-away PostgreSQL cluster for the `rgw` project (recipe: docs of the test machines,
 * /work/shared/reference/postgresql.md): initdb in a temporary folder, trust auth on loopback, a
 * free port, the socket in the same folder. As root it runs as the `postgres` user (the server
 * refuses root). Started once per run; tests get a fresh database each from
 * test/support/postgres.ts. Stopped by its data folder (never by process name) at the end.
 * Missing binaries fail the run plainly: the multi-node tests need a real server.
 */
export default async function setup(project: TestProject) {
  const bin = findBin();
  const dir = mkdtempSync(join(tmpdir(), 'ferry-pg-'));
  const asRoot = userInfo().uid === 0;
  if (asRoot) chownSync(dir, uidOf('postgres'), -1);
  const port = await freePort();
  const data = join(dir, 'data');
  const pgCtl = (args: string) => `${bin}/pg_ctl -D ${data} ${args}`;
  await sh(asRoot, `${bin}/initdb -D ${data} -A trust -U ferry >/dev/null`);
  await sh(
    asRoot,
    pgCtl(
      `-o '-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off' -l ${dir}/log -w start >/dev/null`,
    ),
  );
  project.provide('postgres', { url: `postgres://ferry@127.0.0.1:${port}/postgres` });
  return async () => {
    try {
      await sh(asRoot, pgCtl('-m fast -w stop >/dev/null'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    postgres: { url: string };
  }
}

function findBin(): string {
  const base = '/usr/lib/postgresql';
  const versions = existsSync(base)
    ? readdirSync(base)
        .filter((v) => existsSync(join(base, v, 'bin/initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions.length === 0)
    throw new Error(
      'PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): apt-get install postgresql (scripts/test.sh does)',
    );
  return join(base, versions[0]!, 'bin');
}

async function sh(asRoot: boolean, command: string): Promise<void> {
  try {
    if (asRoot) await run('su', ['postgres', '-s', '/bin/sh', '-c', command]);
    else await run('sh', ['-c', command]);
  } catch (err) {
    const e = err as { stderr?: string; stdout?: string };
    throw new Error(`PostgreSQL test cluster: ${command} failed: ${e.stderr || e.stdout || err}`);
  }
}

function uidOf(user: string): number {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${user}:`));
  if (!line) throw new Error(`no ${user} user to run PostgreSQL as (apt-get install postgresql creates it)`);
  return Number(line.split(':')[2]);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}
