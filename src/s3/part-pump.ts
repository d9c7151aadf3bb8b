import type { CompletedPart } from '@aws-sdk/client-s3';
import type { MultipartSession } from './multipart-session.js';

/**
 * The pump between part buffers and a multipart session: sends filled parts with at most
 * `concurrency` in flight, collects their ETags, and remembers the first failure so the producer
 * stops at its next step. Each part's `done` callback runs once its send is over (either way):
 * that is where the producer gives the buffer and its budget reservation back.
 */
export class PartPump {
  readonly parts: CompletedPart[] = [];
  /** Bytes sent by parts that completed. */
  sent = 0;
  /** The first failure of any part; the producer checks it (`check`) and stops. */
  failure: unknown;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly session: MultipartSession,
    private readonly concurrency: number,
  ) {}

  get active(): number {
    return this.inFlight.size;
  }

  /** Throw the first part failure, if any. */
  check(): void {
    if (this.failure !== undefined) throw this.failure;
  }

  /** Wait until fewer than `limit` parts are in flight (default: the concurrency). */
  async room(limit = this.concurrency): Promise<void> {
    while (this.inFlight.size >= Math.max(1, limit) && this.failure === undefined)
      await Promise.race(this.inFlight);
    this.check();
  }

  /**
   * Send part `n` in the background; `done` runs when the send is over, success or not.
   * `sha256`: the body's SHA-256 (hex) when the producer has it already (not hashed again).
   */
  send(n: number, body: Buffer, done: () => void, sha256?: string): void {
    const p = (async () => {
      try {
        this.parts.push(await this.session.uploadPart(n, body, sha256));
        this.sent += body.length;
      } finally {
        done();
      }
    })().then(
      () => void this.inFlight.delete(p),
      (err) => {
        this.inFlight.delete(p);
        this.failure ??= err;
      },
    );
    this.inFlight.add(p);
  }

  /** Add a part that needs no sending (kept from an earlier run, or copied server-side). */
  keep(part: CompletedPart): void {
    this.parts.push(part);
  }

  /** Wait for every part; throw the first failure; the parts in order. */
  async drain(): Promise<CompletedPart[]> {
    while (this.inFlight.size > 0) await Promise.race(this.inFlight);
    this.check();
    return [...this.parts].sort((a, b) => a.PartNumber! - b.PartNumber!);
  }

  /** Wait for every part without throwing (on the way out after a failure). */
  async settle(): Promise<void> {
    await Promise.allSettled([...this.inFlight]);
  }
}
