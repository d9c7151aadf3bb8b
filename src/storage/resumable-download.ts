import { promises as fs } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { checksumMismatch, SHA256_META, sha256Of } from '../s3/checksum.js';
import type { DownloadToResult, Entry } from './types.js';

/** Fetch the object's parts (all but `skip`) into `file` at their offsets; see downloadToFile. */
export type PartFetcher = (
  file: FileHandle,
  skip: ReadonlySet<number>,
  onPart: (index: number, bytes: number) => Promise<void>,
) => Promise<void>;

interface Sidecar {
  etag: string | null;
  size: number;
  partSize: number;
  done: number[];
}

/**
 * Download an object of `entry.size` bytes to the local file `dest` so that an interrupted run
 * (even SIGKILL) can continue. Parts are written at their offsets into `dest.ferry-download`
 * (parallel, out of order); `dest.ferry-download.json` names the object version (ETag, size,
 * part size) and lists the parts already written — each recorded only after its bytes are in the
 * file. A later run for the same version fetches only the missing parts; a different version
 * starts over. At the end, when the object has `ferry-sha256` (or `hashAll`), the file is read
 * back and hashed — a mismatch deletes the partial file — then it is renamed into place with the
 * object's mtime. Any backend with ranged reads can drive it (S3: download-to.ts).
 */
export async function resumableDownload(
  entry: Entry,
  dest: string,
  partSize: number,
  fetchParts: PartFetcher,
  onBytes?: (n: number) => void,
  hashAll = false,
): Promise<DownloadToResult> {
  const partial = `${dest}.ferry-download`;
  const sidecarPath = `${partial}.json`;
  await fs.mkdir(dirname(dest), { recursive: true });
  const version = { etag: entry.etag ?? null, size: entry.size, partSize };
  const earlier = await readSidecar(sidecarPath);
  const have = await fs.stat(partial).catch(() => undefined);
  const same =
    earlier &&
    have?.size === entry.size &&
    earlier.etag === version.etag &&
    earlier.size === version.size &&
    earlier.partSize === version.partSize;
  const sidecar: Sidecar = same ? earlier : { ...version, done: [] };
  if (!same) {
    await fs.writeFile(partial, Buffer.alloc(0));
    await fs.truncate(partial, entry.size);
    await writeSidecar(sidecarPath, sidecar);
  }
  const skip = new Set(sidecar.done);
  const partBytes = (i: number) => Math.min(entry.size, (i + 1) * partSize) - i * partSize;
  const resumedBytes = [...skip].reduce((sum, i) => sum + partBytes(i), 0);
  if (resumedBytes > 0) onBytes?.(resumedBytes);

  const file = await fs.open(partial, 'r+');
  try {
    // Sidecar updates are serialised (each rewrite is atomic: temporary file + rename) but not
    // waited for by the part workers: a rename costs ~5 ms here, 64 per GiB. A part whose record
    // did not land before a kill is simply fetched again.
    let saving = Promise.resolve();
    let saveError: unknown;
    try {
      await fetchParts(file, skip, async (index, bytes) => {
        sidecar.done.push(index);
        onBytes?.(bytes);
        saving = saving
          .then(() => writeSidecar(sidecarPath, sidecar))
          .catch((err) => {
            saveError ??= err;
          });
      });
    } finally {
      await saving;
    }
    if (saveError) throw saveError;
  } finally {
    await file.close();
  }

  const expected = entry.metadata?.[SHA256_META];
  const sha256 =
    hashAll || expected !== undefined
      ? await sha256Of((await fs.open(partial)).createReadStream())
      : undefined;
  if (sha256 !== undefined && expected !== undefined && expected !== sha256) {
    // Something in the partial file is wrong: don't resume from it next time.
    await fs.rm(partial, { force: true });
    await fs.rm(sidecarPath, { force: true });
    throw checksumMismatch(dest, expected, sha256);
  }
  await fs.utimes(partial, entry.mtime, entry.mtime);
  await fs.rename(partial, dest);
  await fs.rm(sidecarPath, { force: true });
  return { resumedBytes, sha256 };
}

async function readSidecar(path: string): Promise<Sidecar | undefined> {
  try {
    const s = JSON.parse(await fs.readFile(path, 'utf8')) as Sidecar;
    return Array.isArray(s.done) ? s : undefined;
  } catch {
    return undefined;
  }
}

async function writeSidecar(path: string, sidecar: Sidecar): Promise<void> {
  const tmp = `${path}.tmp`;
  await fs.writeFile(tmp, JSON.stringify(sidecar));
  await fs.rename(tmp, path);
}
