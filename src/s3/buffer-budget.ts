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
  /** Of `used`: bytes charged for data already received (`charge`), not reservations. */
  private charged = 0;
  private roomWatchers: (() => void)[] = [];
  private readonly waiters: { bytes: number; grant: () => void; fail: (err: unknown) => void }[] = [];
  /** Highest number of bytes held at once (for tests and benchmarks). */
  peak = 0;
  /** Highest number of bytes charged (`charge`) at once (for tests and benchmarks). */
  chargedPeak = 0;

  constructor(private max: number) {
    if (!(max > 0)) throw new RangeError('the buffer budget must be positive');
  }

  get limit(): number {
    return this.max;
  }

  /** Change the limit (tests shrink the process budget); waiters that now fit are granted. */
  setLimit(limit: number): void {
    if (!(limit > 0)) throw new RangeError('the buffer budget must be positive');
    this.max = limit;
    this.peak = this.used;
    this.chargedPeak = this.charged;
    this.wake();
  }

  get held(): number {
    return this.used;
  }

  /** Whether the budget is spent: as much is held as the limit allows (or more). */
  get spent(): boolean {
    return this.used >= this.limit;
  }

  /**
   * Charge `bytes` of data already received (a protocol's WRITE waiting for its handle): counted
   * at once, never waits — the bytes are in memory already. The receiver keeps the total bounded
   * by reading no more while the budget is `spent` (`onRoom` tells it when to go on). Charged
   * bytes alone never block a reservation: with nothing but charges held, a reservation is
   * granted (the handle it feeds must get a buffer to take those bytes, or nothing moves).
   */
  charge(bytes: number): () => void {
    this.charged += bytes;
    this.chargedPeak = Math.max(this.chargedPeak, this.charged);
    const release = this.take(bytes);
    return () => {
      if (bytes < 0) return;
      this.charged -= bytes;
      bytes = -1;
      release();
    };
  }

  /** Call `fn` once, the next time something is released and the budget is no longer spent. */
  onRoom(fn: () => void): void {
    this.roomWatchers.push(fn);
  }

  /** Whether a reservation is waiting for room. */
  get waiting(): boolean {
    return this.waiters.length > 0;
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
    if (this.waiters.length > 0 || this.used + bytes > this.max) return undefined;
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
    return this.used + bytes <= this.limit || this.used === this.charged;
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
    if (this.roomWatchers.length > 0 && !this.spent && this.waiters.length === 0) {
      const watchers = this.roomWatchers;
      this.roomWatchers = [];
      for (const fn of watchers) fn();
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
