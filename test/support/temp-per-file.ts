import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';

/**
 * Each test file's temporary files go in a folder of its own, removed after the file: TMPDIR
 * points there (os.tmpdir() reads it on each call, and the servers and clients a test starts
 * inherit it). Without this, every file that made a `mkdtemp` folder and did not remove it left
 * it behind: 287 MB per run of sftp-resume alone, tens of GB on a developer's machine over a few
 * days (the disk filled and Swift answered 503 "Please reduce your request rate").
 * FERRY_KEEP_TEST_TMP=1 keeps the folders (to look at what a failing test left).
 */
const outer = tmpdir();
const mine = mkdtempSync(join(outer, 'ferry-t-'));
process.env.TMPDIR = mine;

afterAll(() => {
  process.env.TMPDIR = outer;
  if (process.env.FERRY_KEEP_TEST_TMP === '1') return;
  rmSync(mine, { recursive: true, force: true, maxRetries: 3 });
});
