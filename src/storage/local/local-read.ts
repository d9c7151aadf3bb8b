import { constants, createReadStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import { Readable } from 'node:stream';
import { bodyToReadable, checkedSource, unsizedBody } from '../body.js';
import { StorageError } from '../errors.js';
import { baseName } from '../paths.js';
import { checkReadArgs, closedHandle, type ReadHandle, streamFromHandle } from '../read-handle.js';
import type { ReadOptions, SpaceInfo, StoragePath } from '../types.js';
import { unchangedCheck } from './source-check.js';

/**
 * LocalStorage.read without the inline path (inline-read.ts): the file at `abs` as a stream, the
 * range `options` ask for. A pipe (`ferry cp <(cmd) …`, a FIFO) or a device is read through to its
 * end as a body of no declared size, and refuses a range. `translate` turns errno errors into
 * StorageErrors about `path`.
 */
export async function readLocalFile(
  abs: string,
  path: StoragePath,
  options: ReadOptions,
  translate: (err: unknown) => unknown,
): Promise<Readable> {
  let handle: fs.FileHandle;
  try {
    // A file the caller listed is opened O_NONBLOCK: a FIFO swapped in since must not hold a
    // thread-pool thread in open() (no signal reaches it; not even process.exit ends it).
    handle = await fs.open(abs, options.regularFile ? constants.O_RDONLY | constants.O_NONBLOCK : 'r');
  } catch (err) {
    throw translate(err);
  }
  try {
    const st = await handle.stat({ bigint: true });
    if (st.isDirectory()) throw new StorageError('IsADirectory', `is a folder: /${path}`, { path });
    const size = Number(st.size);
    const start = options.offset ?? 0;
    if (!st.isFile() && options.regularFile) {
      throw new StorageError(
        'InvalidArgument',
        `not a regular file any more (a pipe or device since it was listed): /${path}`,
        { path },
      );
    }
    if (!st.isFile()) {
      // A pipe (`ferry cp <(cmd) …`, a FIFO) or a device: its size says nothing (0), and it
      // cannot be read at an offset. Read what comes until its end (it used to read as empty).
      if (start !== 0 || options.length !== undefined) {
        throw new StorageError('InvalidArgument', `not a regular file, cannot read a range: /${path}`, {
          path,
        });
      }
      // Not a file stream: an upload must not take it for one it may read at any position.
      return unsizedBody(Readable.from(createReadStream('', { fd: handle, signal: options.signal })));
    }
    // A writer checks, after the last byte and before it commits, that the file was not
    // rewritten or replaced meanwhile (source-check.ts).
    const unchanged = unchangedCheck(abs, path, st);
    if (options.length === 0 || start >= size) {
      await handle.close();
      return checkedSource(bodyToReadable(Buffer.alloc(0)), unchanged);
    }
    const end = options.length === undefined ? undefined : start + options.length - 1;
    return checkedSource(createReadStream('', { fd: handle, start, end, signal: options.signal }), unchanged);
  } catch (err) {
    await handle.close().catch(() => {});
    throw err;
  }
}

/**
 * The local backend's read handle: an open file descriptor, read with positional reads (the
 * kernel's page cache is the read-ahead). A file replaced while open (Ferry's writes rename a
 * new file into place) keeps being read as opened: the descriptor holds the old inode.
 * `translate` turns errno errors into StorageErrors about `path`.
 */
export async function openLocalRead(
  abs: string,
  path: StoragePath,
  translate: (err: unknown) => unknown,
): Promise<ReadHandle> {
  let file: fs.FileHandle;
  try {
    file = await fs.open(abs, 'r');
  } catch (err) {
    throw translate(err);
  }
  try {
    const st = await file.stat();
    if (st.isDirectory()) throw new StorageError('IsADirectory', `is a folder: /${path}`, { path });
    let closed = false;
    const size = st.size;
    const handle: ReadHandle = {
      entry: { path, name: baseName(path), type: 'file', size, mtime: st.mtime },
      read: async (offset, length, options) => {
        checkReadArgs(offset, length);
        if (closed) throw closedHandle(path);
        options?.signal?.throwIfAborted();
        const want = Math.max(0, Math.min(length, size - offset));
        const out = Buffer.allocUnsafe(want);
        let at = 0;
        try {
          while (at < want) {
            const { bytesRead } = await file.read(out, at, want - at, offset + at);
            if (bytesRead === 0) break; // truncated in place by someone else: what is there
            at += bytesRead;
          }
        } catch (err) {
          if (closed) throw closedHandle(path);
          throw translate(err);
        }
        return at === want ? out : out.subarray(0, at);
      },
      stream: (offset, length, options) => streamFromHandle(handle, offset, length, options),
      close: async () => {
        if (closed) return;
        closed = true;
        await file.close().catch(() => {});
      },
    };
    return handle;
  } catch (err) {
    await file.close().catch(() => {});
    throw err;
  }
}

/** Space of the file system holding `abs` (statfs): total, used, and free to this user. */
export async function localSpace(abs: string): Promise<SpaceInfo> {
  const st = await fs.statfs(abs);
  return {
    total: st.blocks * st.bsize,
    used: (st.blocks - st.bfree) * st.bsize,
    free: st.bavail * st.bsize,
  };
}
