import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, promises as fs } from 'node:fs';
import { dirname } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { checksumMismatch, SHA256_META } from '../s3/checksum.js';
import type { Entry, Storage, StoragePath } from '../storage/types.js';

export interface ResumableDownloadResult {
  /** Bytes that were already on disk from an interrupted earlier run (0 for a fresh download). */
  resumedAt: number;
  /** SHA-256 (hex) of the whole file, when it was computed (see `hashAll`). */
  sha256?: string;
}

/**
 * Download `path` of `src` to the local file `dest` so that an interrupted run (even SIGKILL)
 * can continue: bytes go to `dest.ferry-download`, next to a `dest.ferry-download.json` naming the
 * object version (ETag, size). A later run for the same object version appends from where the
 * partial file ends (the download engine is asked for that range only); a different version
 * starts over. A resumed file is hashed whole (the part already on disk is read back) and checked
 * against the object's `ferry-sha256` when it has one; a fresh download is checked by the download
 * engine itself. With `hashAll` the SHA-256 is always computed (for `--verify`). The file is then
 * renamed into place with the object's mtime. Writes are in order, so a partial file is always a
 * correct prefix of the object.
 */
export async function resumableDownload(
  src: Storage,
  path: StoragePath,
  entry: Entry,
  dest: string,
  onBytes?: (n: number) => void,
  hashAll = false,
): Promise<ResumableDownloadResult> {
  const partial = `${dest}.ferry-download`;
  const sidecar = `${partial}.json`;
  const version = JSON.stringify({ etag: entry.etag ?? null, size: entry.size });
  let resumedAt = 0;
  await fs.mkdir(dirname(dest), { recursive: true });
  const known = await fs.readFile(sidecar, 'utf8').catch(() => undefined);
  const have = await fs.stat(partial).catch(() => undefined);
  if (known === version && have && have.size <= entry.size) resumedAt = have.size;
  else {
    await fs.rm(partial, { force: true });
    await fs.writeFile(sidecar, version);
  }

  const expected = entry.metadata?.[SHA256_META];
  const hash = hashAll || (resumedAt > 0 && expected !== undefined) ? createHash('sha256') : undefined;
  if (resumedAt > 0) {
    if (hash) for await (const chunk of createReadStream(partial, { end: resumedAt - 1 })) hash.update(chunk);
    onBytes?.(resumedAt);
  }
  if (resumedAt < entry.size) {
    const body = await src.read(path, { offset: resumedAt });
    const tap = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        hash?.update(chunk);
        onBytes?.(chunk.length);
        cb(null, chunk);
      },
    });
    await pipeline(
      body,
      tap,
      createWriteStream(partial, { flags: resumedAt > 0 ? 'r+' : 'w', start: resumedAt }),
    );
  } else if (!have) {
    await fs.writeFile(partial, Buffer.alloc(0));
  }
  const sha256 = hash?.digest('hex');
  if (sha256 !== undefined && expected !== undefined && expected !== sha256) {
    // The partial file is wrong somewhere: don't resume from it next time.
    await fs.rm(partial, { force: true });
    await fs.rm(sidecar, { force: true });
    throw checksumMismatch(dest, expected, sha256);
  }
  await fs.utimes(partial, entry.mtime, entry.mtime);
  await fs.rename(partial, dest);
  await fs.rm(sidecar, { force: true });
  return { resumedAt, sha256 };
}
