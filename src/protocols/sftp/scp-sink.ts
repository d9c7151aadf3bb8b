import { StorageError } from '../../storage/errors.js';
import type { WriteHandle } from '../../storage/handles.js';
import { joinPath, MAX_LINE, ScpFatal, type ScpFlags, type ScpIo, vpath } from './scp-io.js';
import type { InboundMemory } from './types.js';
import { TIGHT_WINDOW, tightMemory } from './window.js';

/**
 * SCP sink mode (`scp -t TARGET`): the client uploads. Mirrors OpenSSH's `sink()`:
 *
 * - We send `\0` when ready, then read control lines: `T<mtime> <usec> <atime> <usec>` (times
 *   for the next file), `C<mode> <size> <name>` (a file follows), `D<mode> 0 <name>` (enter a
 *   folder, `-r` only: a nested sink that acknowledges with its own ready `\0`), `E` (leave it),
 *   `\x01…`/`\x02…` (the client's warnings / fatal errors).
 * - TARGET names the file to write, or a folder to write into (then each name goes below it).
 * - A file streams into `Session.openWrite` ('truncate', `size` known, the `T` time as its mtime:
 *   set at open, so it costs no extra S3 copy). Nothing is visible until the last byte arrived
 *   and the client said its `\0`: a client that dies, a short file or a refused write leave no
 *   object and no multipart upload (the handle is aborted).
 * - A file refused at open (permission, quota, a folder in the way) is a warning (`\x01scp: …`)
 *   and the client skips its bytes; one that fails mid-way is read to its end (to stay in step
 *   with the client), then warned about. Folders: `mkdir`, an existing folder is fine; folder
 *   times (`-p`) are not kept (S3 folders have none).
 */
export async function runSink(io: ScpIo, flags: ScpFlags, target: string): Promise<void> {
  if (flags.targetIsDir && !(await isFolder(io, target))) {
    await io.fatal(`${vpath(target)}: not a folder`);
  }
  await level(io, flags, target, 0);
}

const MAX_DEPTH = 128;
/** Bytes handed to the write handle and not yet taken (it copies them into its part buffers). */
const WRITE_WINDOW = 8 * 1024 * 1024;

const T_LINE = /^T(\d{1,15}) (\d{1,6}) (\d{1,15}) (\d{1,6})$/;
const CD_LINE = /^([CD])([0-7]{4}) (\d{1,16}) (.*)$/s;

/** One folder level of the sink; false when the input ended (no `E`). */
async function level(io: ScpIo, flags: ScpFlags, targ: string, depth: number): Promise<boolean> {
  await io.ok();
  const targIsDir = await isFolder(io, targ);
  let mtime: Date | undefined;
  for (let first = true; ; first = false) {
    const line = await io.reader.line(MAX_LINE).catch((err: Error) => io.protocolError(err.message));
    if (line === undefined) return false;
    if (line.length === 0) await io.protocolError('unexpected <newline>');
    const kind = line[0];
    if (kind === 1 || kind === 2) {
      // The client's own trouble (it could not read a file): it printed it already.
      io.errors++;
      if (kind === 2) throw new ScpFatal(`the client stopped: ${line.subarray(1).toString('utf8')}`);
      continue;
    }
    const text = line.toString('utf8');
    if (text === 'E') {
      await io.ok();
      return true;
    }
    const t = T_LINE.exec(text);
    if (t) {
      // A time no Date can hold (past ±8.64e15 ms) is ignored, as OpenSSH's sink ignores one its
      // time_t can't: the file gets the server's time instead of `NaN`.
      const at = new Date(Number(t[1]) * 1000 + Math.floor(Number(t[2]) / 1000));
      mtime = Number.isNaN(at.getTime()) ? undefined : at;
      await io.ok();
      continue;
    }
    const m = CD_LINE.exec(text);
    if (!m) {
      if (text[0] === 'T') await io.protocolError('bad times record');
      await io.protocolError(first ? text : 'expected control record');
    }
    const [, kindChar, , sizeText, name] = m!;
    const size = Number(sizeText);
    if (!Number.isSafeInteger(size)) await io.protocolError('size out of range');
    if (name === '' || name!.includes('/') || name === '.' || name === '..') {
      await io.fatal(`error: unexpected filename: ${name}`);
    }
    const np = targIsDir ? joinPath(targ, name!) : targ;
    const times = mtime;
    mtime = undefined;
    if (kindChar === 'D') {
      if (!flags.recursive) await io.protocolError('received directory without -r');
      if (depth >= MAX_DEPTH) await io.fatal(`${vpath(np)}: folders nested too deep (over ${MAX_DEPTH})`);
      if (!(await makeFolder(io, np))) continue; // warned: the client skips the folder
      if (!(await level(io, flags, np, depth + 1))) return false;
      continue;
    }
    await receiveFile(io, np, size, times);
  }
}

/** `mkdir`, an existing folder being fine; false (after a warning) when it can't be had. */
async function makeFolder(io: ScpIo, path: string): Promise<boolean> {
  try {
    await io.ctx.session.mkdir(path, { signal: io.signal });
    return true;
  } catch (err) {
    if (StorageError.is(err, 'AlreadyExists') && (await isFolder(io, path))) return true;
    await io.warn(
      StorageError.is(err, 'AlreadyExists') ? `${vpath(path)}: not a folder` : io.describe(err, vpath(path)),
    );
    return false;
  }
}

async function receiveFile(io: ScpIo, path: string, size: number, mtime: Date | undefined): Promise<void> {
  let handle: WriteHandle;
  try {
    handle = await io.ctx.session.openWrite(path, { mode: 'truncate', size, mtime, signal: io.signal });
  } catch (err) {
    await io.warn(io.describe(err, vpath(path))); // the client skips the file's bytes
    return;
  }
  let finished = false;
  try {
    await io.ok();
    const writer = new WindowedWriter(handle, io.ctx.memory);
    for (let left = size; left > 0; ) {
      const chunk = await io.reader.chunk(left);
      left -= chunk.length;
      await writer.write(chunk);
    }
    const failure = await writer.settle();
    // The client's word after the bytes: `\0`, or a warning when it could not read its file (it
    // sent filler to stay in step): then the file is not kept.
    const sent = await io.response();
    if (failure !== undefined) {
      await io.warn(io.describe(failure, vpath(path)));
      return;
    }
    if (!sent) {
      await io.warn(`${vpath(path)}: not stored: the client could not read all of it`);
      return;
    }
    try {
      await handle.close();
      finished = true;
    } catch (err) {
      await io.warn(io.describe(err, vpath(path)));
      return;
    }
    await io.ok();
  } finally {
    if (!finished) await handle.abort();
  }
}

/**
 * Hands chunks to a write handle without waiting for each (the handle runs its calls in order and
 * copies the bytes), waiting only while more than WRITE_WINDOW bytes are not yet taken (256 KiB
 * while transfers wait for part buffers: window.ts), or while the process budget (`memory`) is
 * full and some are: the bytes not yet taken are charged to it,
 * as SFTP WRITEs are, and not reading the channel leaves the client without window. After the
 * first failure the rest is dropped (the handle is aborted by then): the caller still reads the
 * client's bytes to their end.
 */
class WindowedWriter {
  private readonly queue: { done: Promise<void>; bytes: number }[] = [];
  private bytes = 0;
  private offset = 0;
  private failure: unknown;
  private failed = false;

  constructor(
    private readonly handle: WriteHandle,
    private readonly memory?: InboundMemory,
  ) {}

  async write(chunk: Buffer): Promise<void> {
    if (this.failed) return;
    const uncharge = this.memory?.charge(chunk.length);
    const done = this.handle
      .write(this.offset, chunk)
      .catch((err: unknown) => {
        if (!this.failed) this.failure = err;
        this.failed = true;
      })
      .finally(uncharge);
    this.offset += chunk.length;
    this.queue.push({ done, bytes: chunk.length });
    this.bytes += chunk.length;
    const most = tightMemory(this.memory) ? TIGHT_WINDOW : WRITE_WINDOW;
    while (this.bytes > most || (this.bytes > 0 && this.memory?.full)) {
      const oldest = this.queue.shift()!;
      await oldest.done;
      this.bytes -= oldest.bytes;
    }
  }

  /** Wait for every write; the first failure, if any. */
  async settle(): Promise<unknown> {
    await Promise.all(this.queue.map((q) => q.done));
    this.queue.length = 0;
    this.bytes = 0;
    return this.failed ? this.failure : undefined;
  }
}

async function isFolder(io: ScpIo, path: string): Promise<boolean> {
  try {
    return (await io.ctx.session.stat(path, { signal: io.signal })).type === 'dir';
  } catch {
    return false;
  }
}
