import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commandModules } from '../../src/cli/main.js';
import { cliEnv, ferry, ferryBin, requireBuiltCli } from '../support/cli.js';
import { TEST_BUCKET } from '../support/s3.js';

const run = promisify(execFile);

/**
 * Start-up loads only the command on the command line (src/cli/main.ts): `ferry ls` must not pay
 * for the server's config, the accounts model, the SFTP code, event rules or yaml. The modules a
 * process loads are seen by a module loader hook (node:module register) that prints each URL.
 */
describe('CLI start-up', () => {
  let dir: string;
  let hook: string;
  beforeAll(async () => {
    await requireBuiltCli();
    dir = await mkdtemp(join(tmpdir(), 'ferry-startup-'));
    await writeFile(
      join(dir, 'hook.mjs'),
      "import { writeSync } from 'node:fs';\n" +
        'export async function load(url, context, next) {\n' +
        '  const r = await next(url, context);\n' +
        '  writeSync(2, "LOADED " + url + "\\n");\n' +
        '  return r;\n' +
        '}\n',
    );
    // CommonJS modules (the AWS SDK is CommonJS, and s3/sdk.ts requires it): the require cache
    // at exit, which `import` of CommonJS shares.
    await writeFile(
      join(dir, 'cjs.cjs'),
      "process.on('exit', () => { for (const k of Object.keys(require.cache)) require('node:fs').writeSync(2, 'LOADED ' + require('node:url').pathToFileURL(k).href + '\\n'); });\n",
    );
    hook = join(dir, 'register.mjs');
    await writeFile(
      hook,
      `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(join(dir, 'hook.mjs')).href)});\n`,
    );
    await writeFile(join(dir, 'a.txt'), 'a');
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function loaded(args: string[]): Promise<{ stdout: string; modules: string[] }> {
    const { stdout, stderr } = await run(
      process.execPath,
      ['--import', hook, '--require', join(dir, 'cjs.cjs'), ferryBin, ...args],
      {
        env: cliEnv(),
      },
    );
    const modules = stderr
      .split('\n')
      .filter((l) => l.startsWith('LOADED '))
      .map((l) => l.slice('LOADED '.length));
    return { stdout, modules };
  }

  const serverSide =
    /\/dist\/(server|accounts|protocols|events|jobs)\/|\/dist\/cli\/admin\/|\/node_modules\/(yaml|fastify|ssh2|kysely)\//;

  it('`ferry ls` loads ls and nothing of the server, the accounts, SFTP, events or yaml', async () => {
    const { stdout, modules } = await loaded(['ls', dir]);
    expect(stdout.split('\n')).toContain('a.txt');
    expect(modules.some((m) => m.endsWith('/dist/cli/commands/ls.js'))).toBe(true);
    expect(modules.filter((m) => serverSide.test(m))).toEqual([]);
    expect(modules.filter((m) => /\/dist\/cli\/commands\/(rule|user|serve|job|sync)\.js$/.test(m))).toEqual(
      [],
    );
  });

  it('`ferry ls s3://…` with keys in the environment loads no AWS SDK, zod, STS, ini resolver or presigner', async () => {
    const folder = `s3://${TEST_BUCKET}/startup-${randomBytes(4).toString('hex')}/`;
    expect((await ferry(['cp', join(dir, 'a.txt'), folder])).code).toBe(0);
    try {
      const { stdout, modules } = await loaded(['ls', '-l', folder]);
      expect(stdout).toMatch(/ a\.txt\n$/);
      expect(modules.some((m) => m.endsWith('/dist/s3/list-lean.js'))).toBe(true);
      // The lean listing (s3/list-lean.ts) needs none of the SDK: not even its client is made.
      expect(modules.filter((m) => /\/node_modules\/(@aws-sdk|@smithy)\//.test(m))).toEqual([]);
      // Nor the code only writes, reads, copies and presigns use.
      expect(
        modules.filter((m) =>
          /\/dist\/(s3\/(upload|download|copy|presign|multipart-session)|storage\/s3\/(write-handle|read-handle|transfer-io))\.js$/.test(
            m,
          ),
        ),
      ).toEqual([]);
      expect(
        modules.filter((m) =>
          /\/node_modules\/(zod|@aws-sdk\/(client-sts|credential-provider-ini|s3-request-presigner))\//.test(
            m,
          ),
        ),
      ).toEqual([]);
      expect(modules.filter((m) => /\/dist\/s3\/(connection-schema|credentials\/sts)\.js$/.test(m))).toEqual(
        [],
      );
    } finally {
      await ferry(['rm', '-r', folder]);
    }
  });

  it('`ferry --version` loads no command and not the S3 SDK', async () => {
    const { stdout, modules } = await loaded(['--version']);
    expect(stdout.trim()).toBe('0.1.0');
    expect(modules.filter((m) => m.includes('/dist/cli/commands/') || m.includes('@aws-sdk'))).toEqual([]);
  });

  it('`ferry --help` lists exactly the commands main.ts can load one by one, in order', async () => {
    const { stdout } = await ferry(['--help']);
    const commands = stdout.slice(stdout.indexOf('Commands:'));
    const names = [...commands.matchAll(/^ {2}([a-z-]+)/gm)].map((m) => m[1]);
    expect(names).toEqual([...commandModules.flatMap((m) => m.names), 'help']);
  });

  it('each command found by its own module answers its --help', async () => {
    const names = commandModules.flatMap((m) => m.names);
    for (let i = 0; i < names.length; i += 4) {
      await Promise.all(
        names.slice(i, i + 4).map(async (name) => {
          const r = await ferry(['--endpoint', 'http://127.0.0.1:1', name, '--help']);
          expect({ name, code: r.code, usage: r.stdout.split('\n')[0] }).toEqual({
            name,
            code: 0,
            usage: expect.stringMatching(new RegExp(`^Usage: ferry ${name} `)),
          });
        }),
      );
    }
  });
});
