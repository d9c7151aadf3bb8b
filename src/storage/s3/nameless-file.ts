import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Where S3 write handles keep bytes on disk: `FERRY_SPILL_DIR`, else the OS temp folder. */
export function spillDir(): string {
  return process.env.FERRY_SPILL_DIR || tmpdir();
}

/**
 * A new file only this process can read (mode 0600, created exclusively), open for reading and
 * writing and unlinked at once: nameless, so it goes with its handle, even after a crash. The
 * spill and stage files of S3 write handles (part-spill.ts, pending-writes.ts, stage-file.ts).
 */
export async function openNamelessFile(prefix: string, dir = spillDir()): Promise<fs.FileHandle> {
  const path = join(dir, `${prefix}-${process.pid}-${randomBytes(6).toString('hex')}`);
  const file = await fs.open(path, 'wx+', 0o600);
  try {
    await fs.unlink(path);
  } catch (err) {
    await file.close();
    throw err;
  }
  return file;
}
