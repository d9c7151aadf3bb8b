import type { Readable } from 'node:stream';
import type { InboundMemory } from './types.js';
import { TIGHT_WINDOW, tightMemory } from './window.js';

const MiB = 1024 * 1024;

/** The peer closed its side before sending what the protocol needed. */
export class ChannelEnded extends Error {
  override readonly name = 'ChannelEnded';
}

/**
 * Reads a channel's input (an SSH channel's stdin) as the SCP protocol needs it: one byte, one
 * line, then exactly N bytes of file data handed over in the chunks they arrived in (no copy).
 *
 * Flow control: the channel is paused while more than `highWater` bytes wait unread, so a slow
 * store slows the client through the SSH window (ssh2 stops widening the window while its
 * stream's buffer is full) instead of filling memory. With `memory` (the process budget), the
 * bytes waiting here are charged to it, and the channel is also paused while the budget is full
 * and some wait (as SFTP WRITEs waiting for their handles are: sftp.ts `checkGate`), and past
 * 256 KiB while transfers wait for part buffers; `dispose` gives back what was never read.
 */
export class ChannelReader {
  private readonly chunks: Buffer[] = [];
  /** The budget charge of each chunk (same index), given back once the chunk is read whole. */
  private readonly charges: ((() => void) | undefined)[] = [];
  private head = 0;
  private buffered = 0;
  private ended = false;
  private failure: Error | undefined;
  private wake: (() => void) | undefined;
  private paused = false;

  constructor(
    private readonly stream: Readable,
    private readonly highWater = 4 * MiB,
    private readonly memory?: InboundMemory,
  ) {
    stream.on('data', (chunk: Buffer) => {
      this.chunks.push(chunk);
      this.charges.push(this.memory?.charge(chunk.length));
      this.buffered += chunk.length;
      if ((this.buffered >= this.high() || this.memory?.full) && !this.paused) {
        this.paused = true;
        stream.pause();
      }
      this.notify();
    });
    const end = () => {
      this.ended = true;
      this.notify();
    };
    stream.on('end', end);
    stream.on('close', end);
    stream.on('error', (err: Error) => {
      this.failure = err;
      this.notify();
    });
  }

  /** True once the input ended and every byte was read. */
  get done(): boolean {
    return this.ended && this.buffered === 0;
  }

  /** The next byte, or undefined at the end of the input. */
  async byte(): Promise<number | undefined> {
    if (!(await this.more())) return undefined;
    const c = this.chunks[this.head]!;
    const b = c[0]!;
    this.consume(c, 1);
    return b;
  }

  /**
   * Bytes up to the next `\n` (not included). Undefined at the end of the input before any byte;
   * ChannelEnded when it ends mid-line; an Error past `max` bytes.
   */
  async line(max: number): Promise<Buffer | undefined> {
    const parts: Buffer[] = [];
    let length = 0;
    for (;;) {
      if (!(await this.more())) {
        if (length === 0) return undefined;
        throw new ChannelEnded('the input ended in the middle of a line');
      }
      const c = this.chunks[this.head]!;
      const nl = c.indexOf(10);
      const take = nl < 0 ? c.length : nl;
      if (length + take > max) throw new Error(`line longer than ${max} bytes`);
      parts.push(c.subarray(0, take));
      length += take;
      this.consume(c, nl < 0 ? take : take + 1);
      if (nl >= 0) return parts.length === 1 ? parts[0]! : Buffer.concat(parts, length);
    }
  }

  /** The next piece of input, at most `max` bytes (as it arrived). ChannelEnded at the end. */
  async chunk(max: number): Promise<Buffer> {
    if (!(await this.more())) throw new ChannelEnded('the input ended in the middle of a file');
    const c = this.chunks[this.head]!;
    const n = Math.min(max, c.length);
    const piece = c.subarray(0, n);
    this.consume(c, n);
    return piece;
  }

  /** Give back the budget charged for bytes never read (the exchange is over). */
  dispose(): void {
    for (let i = this.head; i < this.charges.length; i++) this.charges[i]?.();
    this.chunks.length = 0;
    this.charges.length = 0;
    this.head = 0;
    this.buffered = 0;
  }

  private consume(c: Buffer, n: number): void {
    this.buffered -= n;
    if (n === c.length) {
      this.charges[this.head]?.();
      this.charges[this.head] = undefined;
      this.chunks[this.head++] = undefined as unknown as Buffer;
      if (this.head === this.chunks.length) {
        this.chunks.length = 0;
        this.charges.length = 0;
        this.head = 0;
      } else if (this.head > 1024) {
        this.chunks.splice(0, this.head);
        this.charges.splice(0, this.head);
        this.head = 0;
      }
    } else {
      this.chunks[this.head] = c.subarray(n);
    }
    if (this.paused && this.buffered < this.high() / 2) {
      this.paused = false;
      this.stream.resume();
    }
  }

  /**
   * Bytes waiting unread past which the channel is paused: `highWater`, or the small window while
   * transfers wait for memory (window.ts), so a scp upload whose handle waits holds 256 KiB here.
   */
  private high(): number {
    return tightMemory(this.memory) ? Math.min(this.highWater, TIGHT_WINDOW) : this.highWater;
  }

  /** Wait for input; false at its end. */
  private async more(): Promise<boolean> {
    while (this.head === this.chunks.length) {
      if (this.failure) throw this.failure;
      if (this.ended) return false;
      if (this.paused) {
        this.paused = false;
        this.stream.resume();
      }
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    }
    return true;
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}
