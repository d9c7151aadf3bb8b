import type * as fs from 'node:fs/promises';
import type { BufferBudget } from '../../s3/buffer-budget.js';
import { openNamelessFile, spillDir } from './nameless-file.js';

/** A shared budget reservation, given back when every piece cut from it is gone. */
interface Hold {
  pieces: number;
  release: () => void;
}

/** Bytes [start, end) written ahead of the stream: in memory (`data`), or in the spill file. */
interface Piece {
  start: number;
  end: number;
  data?: Buffer;
  hold?: Hold;
}

/**
 * Writes that arrived ahead of the next byte the S3 write handle can stream (out of order). Those
 * inside the reorder window are copied into memory, paid for by the buffer budget; those past it,
 * or when the budget has no room, go to a spill file at their own offsets (a sparse temporary
 * file, unlinked at once so nothing is left even after a crash). A later write wins over an
 * earlier one where they overlap. Pieces are kept sorted and disjoint.
 */
export class PendingWrites {
  private pieces: Piece[] = [];
  private spill: fs.FileHandle | undefined;
  /** Bytes now held in memory / in the spill file (for tests and benchmarks). */
  memoryBytes = 0;
  spilledBytes = 0;

  constructor(
    private readonly budget: BufferBudget,
    private readonly dir = spillDir(),
  ) {}

  get empty(): boolean {
    return this.pieces.length === 0;
  }

  /** Start of the first pending piece. */
  get first(): number | undefined {
    return this.pieces[0]?.start;
  }

  /** End of the last pending piece. */
  get end(): number | undefined {
    return this.pieces.at(-1)?.end;
  }

  /** Copy the pending bytes that fall in [position, position + buffer.length) into `buffer`. */
  async copyOut(buffer: Buffer, position: number): Promise<void> {
    const to = position + buffer.length;
    for (const p of this.pieces) {
      const from = Math.max(p.start, position);
      const end = Math.min(p.end, to);
      if (from >= end) continue;
      if (p.data) p.data.copy(buffer, from - position, from - p.start, end - p.start);
      else await this.readSpill(buffer, from - position, end - from, from);
    }
  }

  /** Keep `bytes` at `offset`; in memory when `inWindow` and the budget has room now. */
  async add(offset: number, bytes: Uint8Array, inWindow: boolean): Promise<void> {
    const end = offset + bytes.length;
    const release = inWindow ? this.budget.tryReserve(bytes.length) : undefined;
    let piece: Piece;
    if (release) {
      piece = { start: offset, end, data: Buffer.from(bytes), hold: { pieces: 1, release } };
      this.memoryBytes += bytes.length;
    } else {
      const file = await this.spillFile();
      for (let at = 0; at < bytes.length; ) {
        at += (await file.write(bytes, at, bytes.length - at, offset + at)).bytesWritten;
      }
      this.spilledBytes += bytes.length;
      piece = { start: offset, end };
    }
    this.cut(offset, end);
    const i = this.pieces.findIndex((p) => p.start > offset);
    this.pieces.splice(i < 0 ? this.pieces.length : i, 0, piece);
  }

  /**
   * Move the pieces held in memory to the spill file, their budget given back: only the client
   * can fill the gap before them, and a reservation waits (write-handle.ts `offerPart`).
   */
  async spillMemory(): Promise<void> {
    for (const p of this.pieces) {
      if (!p.data) continue;
      const file = await this.spillFile();
      for (let at = 0; at < p.data.length; )
        at += (await file.write(p.data, at, p.data.length - at, p.start + at)).bytesWritten;
      this.memoryBytes -= p.data.length;
      this.spilledBytes += p.data.length;
      p.data = undefined;
      const hold = p.hold;
      p.hold = undefined;
      if (hold && --hold.pieces === 0) hold.release();
    }
  }

  /** Remove and return the first piece. */
  shift(): Piece | undefined {
    const p = this.pieces.shift();
    if (p?.data) this.memoryBytes -= p.data.length;
    return p;
  }

  /** Give a piece's memory back. */
  done(piece: Piece): void {
    if (piece.hold && --piece.hold.pieces === 0) piece.hold.release();
  }

  /** Read spilled bytes at `position` into `buffer`. */
  async readSpill(buffer: Buffer, offset: number, length: number, position: number): Promise<void> {
    for (let at = 0; at < length; ) {
      const { bytesRead } = await this.spill!.read(buffer, offset + at, length - at, position + at);
      if (bytesRead === 0) throw new Error('spill file shorter than what was written to it');
      at += bytesRead;
    }
  }

  /** Drop everything (memory given back, spill file closed). */
  async close(): Promise<void> {
    for (const p of this.pieces) this.done(p);
    this.pieces = [];
    this.memoryBytes = 0;
    await this.spill?.close().catch(() => {});
    this.spill = undefined;
  }

  /** Remove [from, to) from the pieces (a newer write covers it). */
  private cut(from: number, to: number): void {
    const out: Piece[] = [];
    for (const p of this.pieces) {
      if (p.end <= from || p.start >= to) {
        out.push(p);
        continue;
      }
      if (p.data) this.memoryBytes -= p.data.length;
      const parts: Piece[] = [];
      if (p.start < from) parts.push(slice(p, p.start, from));
      if (p.end > to) parts.push(slice(p, to, p.end));
      if (p.hold) p.hold.pieces += parts.length;
      for (const q of parts) if (q.data) this.memoryBytes += q.data.length;
      out.push(...parts);
      this.done(p);
    }
    this.pieces = out;
  }

  private async spillFile(): Promise<fs.FileHandle> {
    if (!this.spill) this.spill = await openNamelessFile('ferry-spill', this.dir);
    return this.spill;
  }
}

function slice(p: Piece, start: number, end: number): Piece {
  return {
    start,
    end,
    data: p.data?.subarray(start - p.start, end - p.start),
    hold: p.hold,
  };
}
