import { pipeline } from 'node:stream/promises';
import { StorageError } from '../storage/errors.js';
import { isDir } from './commands/cp.js';
import type { CliContext } from './context.js';

/** `-` as a cp source or destination: standard input or output, as the aws CLI spells it. */
export const STD_STREAM = '-';

/**
 * `ferry cp - DST` stores standard input as the file DST; `ferry cp SRC… -` writes each source
 * file to standard output. Standard input goes through `Storage.write`, which is atomic: an
 * interrupted or failed copy (Ctrl-C, an S3 error) leaves no object and no multipart upload, and
 * stdin of unknown length streams in parts with bounded memory.
 */
export async function copyStdStreams(
  c: CliContext,
  sources: string[],
  destination: string,
  options: { recursive?: boolean },
): Promise<void> {
  if (destination === STD_STREAM && sources.includes(STD_STREAM))
    throw new StorageError('InvalidArgument', 'cp - -: standard input to standard output is not a copy');
  if (options.recursive)
    throw new StorageError(
      'InvalidArgument',
      '-r cannot be used with - (standard input or output is one file)',
    );
  if (destination === STD_STREAM) {
    for (const source of sources) {
      const src = c.locations.open(source);
      const body = await src.storage.read(src.path, { signal: c.signal });
      await pipeline(body, process.stdout, { end: false, signal: c.signal });
    }
    return;
  }
  if (sources.length > 1)
    throw new StorageError('InvalidArgument', 'standard input (-) must be the only source');
  const dst = c.locations.open(destination);
  if (dst.path === '' || dst.asFolder || (await isDir(dst)))
    throw new StorageError(
      'InvalidArgument',
      `standard input has no file name: give the destination file, not a folder (${dst.display})`,
    );
  try {
    await dst.storage.write(dst.path, process.stdin, { signal: c.signal });
  } catch (err) {
    if (c.signal?.aborted) c.warn(`ferry: nothing of ${dst.display} was kept (the partial copy was removed)`);
    throw err;
  }
}
