import { StorageError } from '../../storage/errors.js';
import type { ReadHandle } from '../../storage/read-handle.js';
import type { Entry } from '../../storage/types.js';
import { globParts, matchesGlob } from './glob.js';
import { joinPath, type ScpFlags, type ScpIo, vpath } from './scp-io.js';

/**
 * SCP source mode (`scp -f PATH…`): the client downloads. Mirrors OpenSSH's `source()`:
 * after the client's first `\0`, each file goes as an optional `T<mtime> 0 <atime> 0` line (`-p`),
 * `C0644 <size> <name>`, its bytes and a `\0`, each line answered by the client; with `-r` a
 * folder goes as `D0755 0 <name>`, its entries, `E`. A folder without `-r` or a path that can't
 * be read is a warning (`\x01scp: …`) and the next path follows.
 *
 * Files are read through `Session.openRead`: size, mtime and bytes all come from the one version
 * opened (the S3 read handle pins it with If-Match), streamed in 1 MiB steps with read-ahead, each
 * step written as the SSH window allows. A read failing mid-file sends zeros for the rest (the
 * client expects exactly `size` bytes) and then a warning instead of the final `\0`, as OpenSSH
 * does: the client reports the file as failed.
 *
 * Wildcards: there is no remote shell to expand them, so `*`, `?` and `[…]` in the last segment of
 * a path that does not exist as written are matched against that folder's listing (hidden names
 * only by a pattern starting with `.`, as a shell does). Wildcards in an earlier segment are
 * refused with a message saying so.
 */
export async function runSource(io: ScpIo, flags: ScpFlags, paths: string[]): Promise<void> {
  await io.response();
  for (const p of paths) {
    for (const path of await expand(io, p)) await sendPath(io, flags, path, undefined);
  }
}

async function sendPath(io: ScpIo, flags: ScpFlags, path: string, listed: Entry | undefined): Promise<void> {
  let entry = listed;
  if (!entry) {
    try {
      entry = await io.ctx.session.stat(path, { signal: io.signal });
    } catch (err) {
      await io.warn(io.describe(err, vpath(path)));
      return;
    }
  }
  if (entry.type === 'dir') {
    if (!flags.recursive) await io.warn(`${vpath(path)}: not a regular file`);
    else await sendFolder(io, flags, path, entry);
    return;
  }
  await sendFile(io, flags, path);
}

async function sendFolder(io: ScpIo, flags: ScpFlags, path: string, entry: Entry): Promise<void> {
  // A folder S3 cannot date says epoch: then no times (the client's folder keeps its own).
  if (flags.preserve && entry.mtime.getTime() > 0 && !(await io.sendAndWait(timesLine(entry.mtime)))) return;
  if (!(await io.sendAndWait(`D0755 0 ${nameOf(path)}\n`))) return;
  try {
    for await (const child of io.ctx.session.list(path, { signal: io.signal })) {
      await sendPath(io, flags, joinPath(path, child.name), child);
    }
  } catch (err) {
    if (io.signal.aborted) throw err;
    await io.warn(io.describe(err, vpath(path)));
  }
  await io.sendAndWait('E\n');
}

const ZEROS = Buffer.alloc(64 * 1024);

async function sendFile(io: ScpIo, flags: ScpFlags, path: string): Promise<void> {
  let handle: ReadHandle;
  try {
    handle = await io.ctx.session.openRead(path, { signal: io.signal });
  } catch (err) {
    await io.warn(io.describe(err, vpath(path)));
    return;
  }
  try {
    const { size, mtime } = handle.entry;
    if (flags.preserve && !(await io.sendAndWait(timesLine(mtime)))) return;
    if (!(await io.sendAndWait(`C0644 ${size} ${nameOf(path)}\n`))) return;
    let sent = 0;
    let failure: unknown;
    try {
      for await (const chunk of handle.stream(0, size, { signal: io.signal })) {
        await io.send(chunk as Buffer);
        sent += (chunk as Buffer).length;
      }
      if (sent !== size) {
        failure = new StorageError('Conflict', `${vpath(path)}: the file changed while it was read`);
      }
    } catch (err) {
      if (io.signal.aborted) throw err;
      failure = err;
    }
    if (failure === undefined) {
      await io.sendAndWait(Buffer.alloc(1));
      return;
    }
    // Keep the protocol in step: the client reads exactly `size` bytes before our verdict.
    while (sent < size) {
      const n = Math.min(ZEROS.length, size - sent);
      await io.send(ZEROS.subarray(0, n));
      sent += n;
    }
    await io.warn(io.describe(failure, vpath(path)));
    await io.response();
  } finally {
    await handle.close().catch(() => {});
  }
}

/** The paths a client path stands for (wildcards in its last segment matched; see above). */
async function expand(io: ScpIo, path: string): Promise<string[]> {
  const parts = globParts(path);
  if (!parts) return [path];
  try {
    await io.ctx.session.stat(path, { signal: io.signal });
    return [path]; // a name that really has `*` in it
  } catch (err) {
    if (!StorageError.is(err, 'NotFound')) {
      await io.warn(io.describe(err, vpath(path)));
      return [];
    }
  }
  if (parts.dirHasGlob) {
    await io.warn(`${path}: wildcards are matched in the last path segment only`);
    return [];
  }
  const out: string[] = [];
  try {
    for await (const e of io.ctx.session.list(parts.dir, { signal: io.signal })) {
      if (matchesGlob(parts.pattern, e.name)) out.push(joinPath(parts.dir, e.name));
    }
  } catch (err) {
    await io.warn(io.describe(err, vpath(parts.dir)));
    return [];
  }
  if (out.length === 0) await io.warn(`${path}: no match`);
  return out;
}

function timesLine(mtime: Date): string {
  const s = Math.max(0, Math.floor(mtime.getTime() / 1000));
  return `T${s} 0 ${s} 0\n`;
}

/** The last segment of a client path (OpenSSH strips trailing slashes first). */
function nameOf(path: string): string {
  const v = vpath(path);
  return v.slice(v.lastIndexOf('/') + 1);
}
