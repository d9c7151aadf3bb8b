import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireBuiltCli } from '../support/cli.js';
import { ServeProcess, serverEnv } from './serve-process.js';

/**
 * Review of the part spill (src/storage/s3/part-spill.ts): FERRY_SPILL_DIR names the folder of
 * every spill and stage file (part-spill.ts, pending-writes.ts, stage-file.ts). A folder that is
 * not there (a typo, a volume not mounted) was found only when a transfer needed it: a part
 * spill then failed silently and kept the part in memory (the client that waits for budget hung
 * until the idle timeout), out-of-order writes failed with the OS's ENOENT. `ferry serve` now
 * refuses to start with a clear error naming the variable.
 */
const procs: ServeProcess[] = [];
afterAll(async () => {
  for (const p of procs) await p.close();
});

describe('ferry serve with FERRY_SPILL_DIR that it cannot use', () => {
  let dir: string;
  beforeAll(async () => {
    await requireBuiltCli();
    dir = mkdtempSync(join(tmpdir(), 'ferry-spill-dir-'));
    writeFileSync(join(dir, 'a-file'), 'x');
  });

  for (const [what, spill] of [
    ['a missing folder', () => join(dir, 'no-such-folder')],
    ['a file', () => join(dir, 'a-file')],
  ] as const) {
    it(`${what}: refuses to start, naming FERRY_SPILL_DIR`, { timeout: 60_000 }, async () => {
      const p = new ServeProcess(['--http', '127.0.0.1:0', '--data', join(dir, 'data')], {
        cwd: dir,
        env: serverEnv({ FERRY_SPILL_DIR: spill() }),
      });
      procs.push(p);
      const outcome = await Promise.race([
        p.exited.then((e) => `exited ${e.code}`),
        p.httpUrl().then(
          () => 'started',
          () => 'no url',
        ),
      ]);
      expect(outcome).toMatch(/^exited [1-9]/);
      expect(p.stderr).toContain('FERRY_SPILL_DIR');
      expect(p.stderr).toContain(spill());
    });
  }
});

describe('ferry serve with a FERRY_PART_SPILL_MS that is not a whole number of milliseconds', () => {
  let dir: string;
  beforeAll(async () => {
    await requireBuiltCli();
    dir = mkdtempSync(join(tmpdir(), 'ferry-spill-ms-'));
  });

  // 0 used to mean 1000 ms and a negative value "spill at once"; junk was 1000 ms, silently.
  for (const value of ['-5', 'abc', '1.5', '10s']) {
    it(`${value}: refuses to start, naming FERRY_PART_SPILL_MS`, { timeout: 60_000 }, async () => {
      const p = new ServeProcess(['--http', '127.0.0.1:0', '--data', join(dir, 'data')], {
        cwd: dir,
        env: serverEnv({ FERRY_PART_SPILL_MS: value }),
      });
      procs.push(p);
      const outcome = await Promise.race([
        p.exited.then((e) => `exited ${e.code}`),
        p.httpUrl().then(
          () => 'started',
          () => 'no url',
        ),
      ]);
      expect(outcome).toMatch(/^exited [1-9]/);
      expect(p.stderr).toContain(`FERRY_PART_SPILL_MS=${value} is not a whole number of milliseconds`);
    });
  }
});
