/**
 * A byte budget shared by every transfer of the process: each upload part being filled or sent
 * and each download part being fetched or waiting to be read holds a reservation from it. When
 * the budget is spent, new reservations wait (first come, first served), so the transfers slow
 * their sources down instead of buffering without limit — that wait is the back-pressure a slow
 * S3 puts on a fast client.
 *
 * A reservation larger than the whole budget is granted when nothing else is held, so one huge
 * part can still go through (the budget is then briefly exceeded by that one part, never more).
 * Progress is guaranteed because every holder releases after a bounded amount of work.
 */
export class BufferBudget {
  private used = 0;
  private readonly waiters: { bytes: number; grant: () => void; fail: (err: unknown) => void }[] = [];
  /** Highest number of bytes held at once (for tests and benchmarks). */
  peak = 0;

  constructor(readonly limit: number) {
    if (!(limit > 0)) throw new RangeError('the buffer budget must be positive');
  }

  get held(): number {
    return this.used;
  }

  /**
   * Reserve `bytes`; resolves to a release function (idempotent) once granted. Rejects with the
   * signal's reason if `signal` aborts while waiting.
   */
  async reserve(bytes: number, signal?: AbortSignal): Promise<() => void> {
    signal?.throwIfAborted();
    if (this.waiters.length === 0 && this.fits(bytes)) return this.take(bytes);
    await new Promise<void>((resolve, reject) => {
      const waiter = {
        bytes,
        grant: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        fail: reject,
      };
      const onAbort = () => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(signal?.reason);
        this.wake();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
    });
    return this.take(bytes, true);
  }

  /** Reserve `bytes` only if that is possible right now (no one waiting, and it fits). */
  tryReserve(bytes: number): (() => void) | undefined {
    if (this.waiters.length > 0 || this.used + bytes > this.limit) return undefined;
    return this.take(bytes);
  }

  /**
   * Take `bytes` at once, even past the limit: for a holder that must grow and may not wait
   * while holding (that could deadlock). Callers bound how much they overdraw.
   */
  overdraw(bytes: number): () => void {
    return this.take(bytes);
  }

  private fits(bytes: number): boolean {
    return this.used + bytes <= this.limit || this.used === 0;
  }

  private take(bytes: number, granted = false): () => void {
    if (!granted) this.used += bytes;
    this.peak = Math.max(this.peak, this.used);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.used -= bytes;
      this.wake();
    };
  }

  /** Grant waiters in order while they fit; the bytes are counted before the waiter resumes. */
  private wake(): void {
    while (this.waiters.length > 0 && this.fits(this.waiters[0]!.bytes)) {
      const w = this.waiters.shift()!;
      this.used += w.bytes;
      w.grant();
    }
  }
}

const MiB = 1024 * 1024;

/**
 * The process-wide budget: `FERRY_BUFFER_BUDGET` bytes (e.g. `512MiB` is not parsed here: plain
 * bytes), 256 MiB by default — enough for four transfers at the default part size and
 * concurrency, and small enough for a container.
 */
export const processBudget = new BufferBudget(
  Number.parseInt(process.env.FERRY_BUFFER_BUDGET ?? '', 10) > 0
    ? Number.parseInt(process.env.FERRY_BUFFER_BUDGET!, 10)
    : 256 * MiB,
);
