import * as fs from 'node:fs/promises';
import * as nodePath from 'node:path';
import { Readable } from 'node:stream';
import { StorageError } from '../errors.js';
import type { StoragePath, WriteBody, WriteOptions } from '../types.js';
import { partialName } from './write-handle.js';

/** Writes of a known size up to this take the lean path below (a sync of small files). */
export const SMALL_WRITE = 1024 * 1024;

/** What the lean write needs of LocalStorage (the path already guarded against escapes). */
export interface SmallWriteTarget {
  abs: string;
  path: StoragePath;
  /** The guard's realpath found nothing at the path (false): no stat needed before writing. */
  found?: boolean;
  /** Folders this storage made or found: no `mkdir -p` for each file written into them. */
  folders: Set<string>;
  /** `mkdir -p` of a folder (NotADirectory when a file is in the way). */
  mkdirs: (abs: string) => Promise<void>;
  /** errno → StorageError for this path. */
  translate: (err: unknown) => unknown;
}

/**
 * LocalStorage.write of a small file of known size, with the fewest system calls that keep every
 * rule of `write`: the body goes to a new hidden partial file (`wx`: never through a symlink or
 * onto another write's partial), its mtime is set on the open descriptor, and only the complete
 * file is renamed into place — a crash leaves no file under the real name. Against the general
 * path it saves the `mkdir -p` per file (a folder made once is remembered; a folder removed since
 * is made again), the write stream and its plumbing, the stat of the path after (the size and
 * mtime are known). Not for `createOnly` (the general path's link). Returns the size written and
 * the mtime the file has.
 */
export async function writeSmallFile(
  t: SmallWriteTarget,
  body: WriteBody,
  options: WriteOptions,
): Promise<{ size: number; mtime: Date }> {
  const dir = nodePath.dirname(t.abs);
  if (!t.folders.has(dir)) {
    await t.mkdirs(dir);
    t.folders.add(dir);
  }
  // A folder (or a symlink to one) at the path: IsADirectory, as the general path says. (One made
  // there after the guard looked is still refused by the rename, EISDIR, unless a symlink.)
  const existing = t.found === false ? undefined : await fs.stat(t.abs).catch(() => undefined);
  if (existing?.isDirectory())
    throw new StorageError('IsADirectory', `is a folder: /${t.path}`, { path: t.path });
  const partial = nodePath.join(dir, partialName(nodePath.basename(t.abs)));
  let file: fs.FileHandle;
  try {
    file = await fs.open(partial, 'wx');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw t.translate(err);
    // The folder went away since it was made: make it again.
    t.folders.delete(dir);
    await t.mkdirs(dir);
    t.folders.add(dir);
    try {
      file = await fs.open(partial, 'wx');
    } catch (again) {
      throw t.translate(again);
    }
  }
  const { signal } = options;
  // An abort ends a body that is still arriving (as the pipeline of the general path does).
  const onAbort = () => {
    if (body instanceof Readable) body.destroy(signal?.reason);
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  let open = true;
  try {
    signal?.throwIfAborted();
    let size = 0;
    if (typeof body === 'string' || body instanceof Uint8Array)
      size = await writeAll(file, Buffer.from(body), 0);
    else
      for await (const chunk of body) {
        signal?.throwIfAborted();
        // A Readable may give strings (Readable.from(['…']), setEncoding): their UTF-8 bytes.
        const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Uint8Array);
        size = await writeAll(file, bytes, size);
      }
    signal?.throwIfAborted();
    let mtime = options.mtime;
    if (mtime) await file.utimes(mtime, mtime);
    else mtime = (await file.stat()).mtime;
    open = false;
    await file.close();
    await fs.rename(partial, t.abs);
    return { size, mtime };
  } catch (err) {
    if (open) await file.close().catch(() => {});
    await fs.rm(partial, { force: true });
    if (err instanceof StorageError || (err as Error).name === 'AbortError') throw err;
    if (signal?.aborted) throw signal.reason ?? err;
    throw t.translate(err);
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}

async function writeAll(file: fs.FileHandle, bytes: Uint8Array, at: number): Promise<number> {
  for (let done = 0; done < bytes.length; ) {
    const { bytesWritten } = await file.write(bytes, done, bytes.length - done, at + done);
    done += bytesWritten;
  }
  return at + bytes.length;
}
