import { randomBytes } from 'node:crypto';
import { closeSync, openSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { StorageError } from '../storage/errors.js';
import { partSpillAfterMs } from '../storage/s3/part-spill.js';

/**
 * `FERRY_SPILL_DIR`, when set, is where S3 write handles put their spill and stage files
 * (part-spill.ts, pending-writes.ts, stage-file.ts). Checked once at start by making and removing
 * a file there as they do: a folder that is missing, not a folder or not writable was found only
 * when a transfer needed it (a part spill failed silently and kept its part in memory, while
 * the client waiting for budget hung until the idle timeout; out-of-order writes failed with
 * the OS's ENOENT). Throws a clear error naming the variable. `FERRY_PART_SPILL_MS` (part-spill.ts
 * `partSpillAfterMs`) likewise: a value that is not a whole number of milliseconds is refused.
 */
export function checkSpillDir(env: NodeJS.ProcessEnv): void {
  partSpillAfterMs(env); // FERRY_PART_SPILL_MS: a clear error now, not at the first upload
  const dir = env.FERRY_SPILL_DIR;
  if (!dir) return;
  const probe = join(dir, `ferry-probe-${process.pid}-${randomBytes(6).toString('hex')}`);
  try {
    closeSync(openSync(probe, 'wx', 0o600));
    unlinkSync(probe);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT' ? 'no such folder' : code === 'ENOTDIR' ? 'not a folder' : (err as Error).message;
    throw new StorageError(
      'InvalidArgument',
      `FERRY_SPILL_DIR=${dir} cannot hold spill files (${why}); set it to a writable folder, or unset it for the OS temp folder`,
    );
  }
}
