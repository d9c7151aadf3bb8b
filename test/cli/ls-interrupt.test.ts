import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliEnv, ferryBin, requireBuiltCli } from '../support/cli.js';
import { startMuteServer } from '../support/silent-relay.js';

/**
 * Ctrl-C ends `ferry ls` against a store that takes the request and never answers: the signal
 * reaches the LIST in flight. Before, the process said "interrupted" and stayed up for minutes
 * (the S3 idle timeout and the SDK's retries).
 */
describe('ferry ls: SIGINT against a silent store', () => {
  let silent: Awaited<ReturnType<typeof startMuteServer>>;
  beforeAll(async () => {
    await requireBuiltCli();
    silent = await startMuteServer();
  });
  afterAll(() => silent.close());

  // A folder (its LIST) and a file path (stat: a HEAD first for a name with an extension).
  it.each([
    ['a folder', ['ls', '-R'], 'ferry-test/x/'],
    ['a file', ['ls', '-l'], 'ferry-test/x/report.pdf'],
  ])(
    '%s: exits with 130 within seconds of the SIGINT',
    async (_what, args, path) => {
      const { port } = silent;
      const child = spawn(process.execPath, [ferryBin, ...args, `s3+http://127.0.0.1:${port}/${path}`], {
        env: cliEnv({ AWS_ACCESS_KEY_ID: 'a', AWS_SECRET_ACCESS_KEY: 'b' }),
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
      });
      const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
      await new Promise((r) => setTimeout(r, 1500));
      child.kill('SIGINT');
      const sent = performance.now();
      const code = await Promise.race([
        exited,
        new Promise<string>((r) => setTimeout(() => r('still running after 8 s'), 8000)),
      ]);
      if (code === 'still running after 8 s') child.kill('SIGKILL');
      expect(code, stderr).toBe(130);
      expect(performance.now() - sent).toBeLessThan(8000);
      expect(stderr).toMatch(/interrupted by SIGINT/);
    },
    30_000,
  );
});
