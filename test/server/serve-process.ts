import { type ChildProcessWithoutNullStreams, execFile, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { cliEnv, ferryBin, requireBuiltCli } from '../support/cli.js';

const run = promisify(execFile);

/**
 * A real `ferry serve` process (bin/ferry.js, i.e. dist/) for the server tests: its stdout and
 * stderr are collected, lines can be waited for, and it is stopped with a signal as an operator
 * would. `close()` kills what is still running at the end of a test.
 */
export class ServeProcess {
  readonly child: ChildProcessWithoutNullStreams;
  stdout = '';
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv }) {
    this.child = spawn(process.execPath, [ferryBin, 'serve', ...args], {
      cwd: options.cwd,
      env: options.env ?? cliEnv(),
    });
    this.child.stdout.on('data', (d) => {
      this.stdout += d;
    });
    this.child.stderr.on('data', (d) => {
      this.stderr += d;
    });
    this.exited = new Promise((resolve) =>
      this.child.on('exit', (code, signal) => resolve({ code, signal })),
    );
  }

  /** The first match of `pattern` in stdout, waiting for it (fails if the process exits first). */
  async waitFor(pattern: RegExp, timeoutMs = 30_000): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    let exited = false;
    void this.exited.then(() => {
      exited = true;
    });
    for (;;) {
      const m = this.stdout.match(pattern);
      if (m) return m;
      if (exited || Date.now() > deadline) {
        throw new Error(
          `ferry serve: ${exited ? 'exited' : 'timed out'} before printing ${pattern}\nstdout:\n${this.stdout}\nstderr:\n${this.stderr}`,
        );
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** The HTTP listener's URL from the start-up line. */
  async httpUrl(): Promise<string> {
    return (await this.waitFor(/http: listening on (http:\/\/\S+)/))[1] as string;
  }

  /** The SFTP listener's URL from the start-up line (`sftp://127.0.0.1:PORT`). */
  async sftpUrl(): Promise<string> {
    return (await this.waitFor(/sftp: listening on (sftp:\/\/\S+)/))[1] as string;
  }

  async close(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGKILL');
      await this.exited;
    }
  }
}

/** Run curl; resolves with status code and body (curl's own failure rejects). */
export async function curl(args: string[]): Promise<{ status: number; body: string }> {
  const { stdout } = await run('curl', ['-sS', '--globoff', '-w', '\n%{http_code}', ...args], {
    maxBuffer: 64 * 1024 * 1024,
  });
  const cut = stdout.lastIndexOf('\n');
  return { status: Number(stdout.slice(cut + 1)), body: stdout.slice(0, cut) };
}

/** Run `ferry …` to completion with `input` on its standard input. */
export function ferryWithInput(
  args: string[],
  input: string,
  env: NodeJS.ProcessEnv = cliEnv(),
  cwd?: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [ferryBin, ...args], { env, cwd });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.on('error', () => {}); // a refused command may exit before reading: EPIPE
    child.stdin.end(input);
  });
}

/**
 * The environment of a server or admin CLI with no `FERRY_*` settings from the test runner. SFTP
 * is off (`FERRY_SFTP=off`) unless `extra` says otherwise: tests run in parallel and the default
 * port 2022 would collide, and a first start's RSA host key costs seconds of CPU the tests of
 * other protocols don't need. SFTP tests pass `FERRY_SFTP: '127.0.0.1:0'`.
 */
export function serverEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = cliEnv(extra);
  for (const name of Object.keys(env)) {
    if (name.startsWith('FERRY_') && !(name in extra)) delete env[name];
  }
  env.FERRY_SFTP = extra.FERRY_SFTP ?? 'off';
  return env;
}

/**
 * What the admin tests on a running server share: the built CLI checked, a temp folder `dir`
 * (named from `tempPrefix`) with the data folder `data` in it, and `ferry serve --http` on a free
 * port (`url`) with FERRY_ADMIN_PASSWORD set, started from `dir` with `env` (also for the admin
 * CLI on `--data`). `close` kills the server; the temp folder stays.
 */
export async function startAdminServer(tempPrefix: string, adminPassword: string) {
  await requireBuiltCli();
  const dir = mkdtempSync(join(tmpdir(), tempPrefix));
  const data = join(dir, 'ferry-data');
  const env = serverEnv({ FERRY_ADMIN_PASSWORD: adminPassword });
  const server = new ServeProcess(['--http', '127.0.0.1:0', '--data', data], { cwd: dir, env });
  try {
    const url = await server.httpUrl();
    return { dir, data, env, server, url, close: () => server.close() };
  } catch (err) {
    await server.close();
    throw err;
  }
}
