import type * as fs from 'node:fs/promises';
import { openNamelessFile, spillDir } from './nameless-file.js';

/**
 * The part an S3 write handle was filling, moved out of memory to give its budget reservation
 * back (write-handle.ts `offerPart`), and read back into a new part buffer at the handle's next
 * call.
 *
 * Why: a part buffer is held from its first byte until the part is full (or the file closed), and
 * only the client's next bytes fill it. A client that wrote part of file B, then writes file A and
 * waits for A's replies before writing B again, had A's WRITEs wait for budget that B's part held
 * — and B's part waited for the client: both stuck until the idle timeout (hold-and-wait across
 * handles; docs/notes/issue-9.md "Session 6: review of the SFTP memory path", item 3, and
 * "Session 7: open items"). A part given up this way costs a write and a read of at most one part
 * on local disk, and only when a reservation waits while the handle has had no call for a while.
 *
 * The file is in `FERRY_SPILL_DIR` (default the OS temp folder, as PendingWrites' spill files and
 * StageFile), created and unlinked at once: nothing is left even after a crash; `close` frees it.
 */
export class PartSpill {
  private constructor(
    private readonly file: fs.FileHandle,
    /** Bytes spilled (the part's `filled`). */
    readonly length: number,
    /** The part's reservation and its buffer's size, to take the same again. */
    readonly capacity: number,
    readonly size: number,
  ) {}

  /** Write `buffer`'s first `length` bytes to a new nameless file. */
  static async write(buffer: Buffer, length: number, capacity: number, dir = spillDir()): Promise<PartSpill> {
    const file = await openNamelessFile('ferry-part', dir);
    partSpills.open++;
    const spill = new PartSpill(file, length, capacity, buffer.length);
    try {
      for (let at = 0; at < length; ) at += (await file.write(buffer, at, length - at, at)).bytesWritten;
    } catch (err) {
      await spill.close();
      throw err;
    }
    partSpills.spilled++;
    return spill;
  }

  /** Read the spilled bytes back into the start of `buffer` (at least `length` bytes long). */
  async readInto(buffer: Buffer): Promise<void> {
    for (let at = 0; at < this.length; ) {
      const { bytesRead } = await this.file.read(buffer, at, this.length - at, at);
      if (bytesRead === 0) throw new Error('part spill file shorter than what was written to it');
      at += bytesRead;
    }
    partSpills.restored++;
  }

  /** Free the file (idempotent, never throws). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    partSpills.open--;
    await this.file.close().catch(() => {});
  }

  private closed = false;
}

/** Parts spilled and read back, and spill files open now (process-wide; for tests and benchmarks). */
export const partSpills = { spilled: 0, restored: 0, open: 0 };
