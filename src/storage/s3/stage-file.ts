import type * as fs from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { openNamelessFile, spillDir } from './nameless-file.js';

/**
 * The local copy an S3 `update` write handle edits once a write lands over existing bytes (or the
 * client reads): the existing object fetched once, the writes applied at their offsets, sent whole
 * at close. A temporary file in `FERRY_SPILL_DIR` (default the OS temp folder, as the spill files
 * of PendingWrites), unlinked as soon as it is open so nothing is left, even after a crash. Gaps
 * past the end read back as zeros (a sparse file).
 */
export class StageFile {
  /** Bytes in the file: the existing object, grown by writes past its end. */
  size = 0;

  private constructor(private readonly file: fs.FileHandle) {}

  static async open(dir = spillDir()): Promise<StageFile> {
    return new StageFile(await openNamelessFile('ferry-stage', dir));
  }

  /** Write a body from offset 0 (the existing object). */
  async fill(body: Readable): Promise<void> {
    let at = 0;
    for await (const chunk of body) {
      await this.write(at, chunk as Buffer);
      at += (chunk as Buffer).length;
    }
  }

  async write(offset: number, bytes: Uint8Array): Promise<void> {
    for (let at = 0; at < bytes.length; ) {
      at += (await this.file.write(bytes, at, bytes.length - at, offset + at)).bytesWritten;
    }
    this.size = Math.max(this.size, offset + bytes.length);
  }

  /** The file's size becomes `size` (shorter: cut; longer: zeros). */
  async truncate(size: number): Promise<void> {
    await this.file.truncate(size);
    this.size = size;
  }

  /** Up to `length` bytes from `offset` (fewer at the end of the file). */
  async read(offset: number, length: number): Promise<Buffer> {
    const n = Math.max(0, Math.min(length, this.size - offset));
    const out = Buffer.alloc(n);
    await this.readInto(out, 0, n, offset);
    return out;
  }

  /** Exactly `length` bytes at `position` into `buffer` at `offset` (inside `size`). */
  async readInto(buffer: Buffer, offset: number, length: number, position: number): Promise<void> {
    for (let at = 0; at < length; ) {
      const { bytesRead } = await this.file.read(buffer, offset + at, length - at, position + at);
      if (bytesRead === 0) {
        buffer.fill(0, offset + at, offset + length); // a hole at the end: zeros
        return;
      }
      at += bytesRead;
    }
  }

  async close(): Promise<void> {
    await this.file.close().catch(() => {});
  }
}
