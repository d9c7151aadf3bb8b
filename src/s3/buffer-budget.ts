import { BudgetAsks, type SpillOffer } from './budget-asks.js';

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
 *
 * It also keeps the big part buffers themselves (`allocate`/`recycle`): a part buffer given back
 * is kept for the next part of the same size instead of left to the GC, as long as the buffers
 * kept plus the bytes reserved stay within the limit (bytes charged are not counted there: they
 * are on their way into part buffers, see `reserved`). Memory then stays within the budget: a 16 MiB
 * buffer dropped to the GC stays resident until a full collection runs (and glibc may keep it
 * after that), so 20 uploads dropping and allocating parts held ~100 MiB past the budget in
 * freed-but-not-collected buffers (docs/notes/issue-9.md, Session 3). Kept buffers are let go
 * when nothing has been held for a minute (an idle server gives its memory back).
 */
/** Of the limit, what bytes received but not yet taken by their handles may hold (`full`). */
const RECEIVED_SHARE = 1 / 16;
/** Buffers smaller than this are not kept for reuse (the GC handles small ones well enough). */
const MIN_KEPT = 1024 * 1024;
/**
 * Kept buffers are let go after this long with nothing held. A transfer that finds none pays for
 * fresh ones: page faults (~250 per MiB; a 128 MiB SFTP get ~2× the server CPU of one that finds
 * kept buffers) and, with V8's own heap growth, a Mark-Compact every 0.3–1 s for its whole length
 * (util/gc-tuning.ts; docs/notes/issue-9.md "Session 5: download"). A minute keeps them across the
 * pauses of a busy server and still gives an idle one its memory back. `FERRY_BUFFER_IDLE_MS` (milliseconds) sets
 * it for benchmarks of the transfer that follows the drop (bench/sftp-get-cpu.ts BENCH_COLD).
 */
const KEEP_IDLE_MS = positiveFromEnv('FERRY_BUFFER_IDLE_MS', 60_000);

export class BufferBudget {
  private used = 0;
  /** Of `used`: bytes charged for data already received (`charge`), not reservations. */
  private charged = 0;
  private roomWatchers: (() => void)[] = [];
  /** Holders asked to give reservations back while one waits (`reclaimable`, `spillable`). */
  private readonly asks = new BudgetAsks(this);
  private readonly waiters: { bytes: number; grant: () => void; fail: (err: unknown) => void }[] = [];
  /** Highest number of bytes held at once (for tests and benchmarks). */
  peak = 0;
  /** Highest number of bytes charged (`charge`) at once (for tests and benchmarks). */
  chargedPeak = 0;

  /** Buffers of at least 1 MiB made new by `allocate` (none kept fit), for tests and benchmarks. */
  freshBuffers = 0;
  /** Buffers of at least 1 MiB let go to the GC (`recycle` found no room, or a trim), likewise. */
  droppedBuffers = 0;

  /** Part buffers given back, by size, for reuse (`allocate`). */
  private readonly kept = new Map<number, Buffer[]>();
  private keptBytes = 0;
  private idleTimer: NodeJS.Timeout | undefined;

  constructor(private max: number) {
    if (!(max > 0)) throw new RangeError('the buffer budget must be positive');
  }

  /** Bytes of part buffers kept for reuse (not held by anyone; within limit − held). */
  get pooled(): number {
    return this.keptBytes;
  }

  /**
   * A buffer of `size` bytes for a reservation already taken: a kept one of that size when there
   * is one (its contents are stale), a new one otherwise — of `fresh` bytes when given (a part
   * that starts small and grows within its reservation). Small buffers are not kept.
   */
  allocate(size: number, fresh = size): Buffer {
    const list = this.kept.get(size);
    const buf = list?.pop();
    if (buf) {
      this.keptBytes -= size;
      if (list!.length === 0) this.kept.delete(size);
      return buf;
    }
    if (fresh >= MIN_KEPT) this.freshBuffers++;
    return Buffer.allocUnsafe(fresh);
  }

  /**
   * Give a part buffer back once nothing uses it any more (its part was sent, or dropped): kept
   * for `allocate` while the kept buffers and the bytes reserved fit within the limit. `releasing`:
   * bytes of a reservation the caller gives back right after (not counted as held here).
   */
  recycle(buf: Buffer, releasing = 0): void {
    const size = buf.length;
    if (size < MIN_KEPT || buf.byteOffset !== 0 || buf.buffer.byteLength !== size) return;
    if (this.reserved - releasing + this.keptBytes + size > this.max) {
      this.droppedBuffers++;
      return;
    }
    const list = this.kept.get(size) ?? [];
    this.kept.set(size, list);
    list.push(buf);
    this.keptBytes += size;
  }

  /**
   * Bytes held by reservations (`used` without the charges). Kept buffers fit beside these, not
   * beside the charges: charged bytes are data on its way into part buffers (a WRITE waiting for
   * its handle), and making room for them by dropping a kept buffer only trades it for a fresh one
   * a moment later — while the dropped one stays resident (until a full GC, and in glibc's heap
   * after it). With 20 uploads sharing 128 MiB, charges were nearly always held: 74 of 80 part
   * buffers were dropped and allocated anew; with this, 0 of 7 (docs/notes/issue-9.md, "Session 5:
   * memory"; the peak RSS did not move: it is the charges on top of the buffers).
   */
  private get reserved(): number {
    return this.used - this.charged;
  }

  /** Drop kept buffers until they fit beside the reserved bytes (the GC frees them). */
  private trimKept(): void {
    if (this.keptBytes === 0) return;
    for (const [size, list] of this.kept) {
      while (list.length > 0 && this.reserved + this.keptBytes > this.max) {
        list.pop();
        this.keptBytes -= size;
        if (size >= MIN_KEPT) this.droppedBuffers++;
      }
      if (list.length === 0) this.kept.delete(size);
      if (this.reserved + this.keptBytes <= this.max) return;
    }
  }

  get limit(): number {
    return this.max;
  }

  /** Let every kept buffer go (to the GC). */
  dropKept(): void {
    this.kept.clear();
    this.keptBytes = 0;
  }

  /** Change the limit (tests shrink the process budget); waiters that now fit are granted. */
  setLimit(limit: number): void {
    if (!(limit > 0)) throw new RangeError('the buffer budget must be positive');
    this.max = limit;
    this.dropKept();
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
    const release = this.take(bytes); // kept buffers stay: they fit beside the reservations
    return () => {
      if (bytes < 0) return;
      this.charged -= bytes;
      bytes = -1;
      release();
    };
  }

  /**
   * Whether receivers should read no more: the budget is spent, or the bytes charged (received,
   * not yet taken by their handles) pass RECEIVED_SHARE of the limit. Charges are bytes on top
   * of the part buffers that will take them (the buffers stay: kept or resident), so letting them
   * fill the budget doubled it: 20 SFTP uploads on 128 MiB charged 116–118 MiB at once; capped at
   * an eighth, 33 MiB, the peak RSS 53 MiB lower and the uploads faster (docs/notes/issue-9.md
   * "Session 5: memory"); at a sixteenth (with the smaller windows of session 7) 10 MiB instead
   * of 18, the peak 14 MiB lower at the same speed (one side-by-side run: "Session 7: memory").
   */
  get full(): boolean {
    return this.spent || this.charged > this.limit * RECEIVED_SHARE;
  }

  /** Call `fn` once, the next time something is released and the budget is no longer `full`. */
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
    const release = await this.acquire(bytes, signal);
    this.trimKept();
    return release;
  }

  /**
   * `reserve` for a part buffer, with the buffer: a kept one of `capacity` bytes when there is
   * one, else a new one of `size` bytes (a part may start small and grow within `capacity`).
   * The buffer is given back with `recycle` (before the release).
   */
  async reserveBuffer(
    capacity: number,
    size: number,
    signal?: AbortSignal,
  ): Promise<{ buffer: Buffer; release: () => void }> {
    const release = await this.acquire(capacity, signal);
    const buffer = this.allocate(capacity, size);
    this.trimKept();
    return { buffer, release };
  }

  /** `reserveBuffer` only if that is possible right now; undefined otherwise. */
  tryReserveBuffer(capacity: number): { buffer: Buffer; release: () => void } | undefined {
    if (this.waiters.length > 0 || this.used + capacity > this.max) return undefined;
    const release = this.take(capacity);
    const buffer = this.allocate(capacity);
    this.trimKept();
    return { buffer, release };
  }

  /**
   * Register `reclaim`, a holder's way to give back reservations it took only in advance (a read
   * handle's parts fetched ahead and not in use): called whenever a reservation has to wait. A
   * reader that stopped reading but keeps its handle open held its read-ahead until it closed,
   * and a reservation waiting for it waited as long (an upload hung behind a paused download).
   * The return value unregisters it.
   */
  reclaimable(reclaim: () => void): () => void {
    return this.asks.reclaimable(reclaim);
  }

  /**
   * Register `offer`, a holder's way to give back a reservation only its client can make it
   * release (an S3 write handle's part being filled: only more bytes fill and send it), once that
   * holder has been idle for a while (it decides; part-spill.ts `PartSpiller`). Asked while a
   * reservation waits, for only as much as is lacking (budget-asks.ts). Without it a client that
   * waits on file A while B's half-filled part holds the budget A's WRITEs wait for waited for the
   * idle timeout (hold-and-wait across handles). The return value unregisters it.
   */
  spillable(offer: () => SpillOffer | undefined): () => void {
    return this.asks.spillable(offer);
  }

  /**
   * A `spillable` holder could not give back `bytes` (`why`: its spill failed, the disk is full):
   * they stay held until the returned function is called (its client's next call, or its end).
   * Meanwhile a reservation that cannot fit beside them is refused at once, saying why (it would
   * wait for a client that may be waiting for it; budget-asks.ts).
   */
  unspillable(bytes: number, why: Error): () => void {
    return this.asks.unspillable(bytes, why);
  }

  /** Fail every waiting reservation `refusal` gives an error for (budget-asks.ts); the rest wait on. */
  refuse(refusal: (bytes: number) => Error | undefined): void {
    for (const w of [...this.waiters]) {
      const err = refusal(w.bytes);
      if (err === undefined) continue;
      this.waiters.splice(this.waiters.indexOf(w), 1);
      w.fail(err);
    }
    this.wake();
  }

  /** Bytes the waiters lack: held plus waited for (plus `arriving`, not yet waiting), past the limit. */
  lacking(arriving: number): number {
    let want = this.used + arriving - this.max;
    for (const w of this.waiters) want += w.bytes;
    return want;
  }

  private async acquire(bytes: number, signal?: AbortSignal): Promise<() => void> {
    signal?.throwIfAborted();
    if (this.waiters.length === 0 && this.fits(bytes)) return this.take(bytes);
    this.asks.ask(bytes);
    if (this.waiters.length === 0 && this.fits(bytes)) return this.take(bytes);
    await new Promise<void>((resolve, reject) => {
      const waiter = {
        bytes,
        grant: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        fail: (err: unknown) => {
          signal?.removeEventListener('abort', onAbort);
          reject(err);
        },
      };
      const onAbort = () => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(signal?.reason);
        this.wake();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
      this.asks.refuseStuck();
    });
    return this.take(bytes, true);
  }

  /** Reserve `bytes` only if that is possible right now (no one waiting, and it fits). */
  tryReserve(bytes: number): (() => void) | undefined {
    if (this.waiters.length > 0 || this.used + bytes > this.max) return undefined;
    const release = this.take(bytes);
    this.trimKept();
    return release;
  }

  /**
   * Take `bytes` at once, even past the limit: for a holder that must grow and may not wait
   * while holding (that could deadlock). Callers bound how much they overdraw.
   */
  overdraw(bytes: number): () => void {
    const release = this.take(bytes);
    this.trimKept();
    return release;
  }

  private fits(bytes: number): boolean {
    return this.used + bytes <= this.limit || this.used === this.charged;
  }

  private take(bytes: number, granted = false): () => void {
    if (!granted) this.used += bytes;
    this.peak = Math.max(this.peak, this.used);
    if (this.idleTimer) {
      clearTimeout(this.idleTimer);
      this.idleTimer = undefined;
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.used -= bytes;
      this.wake();
      if (this.used === 0 && this.keptBytes > 0 && !this.idleTimer) {
        this.idleTimer = setTimeout(() => {
          this.idleTimer = undefined;
          if (this.used === 0) this.dropKept();
        }, KEEP_IDLE_MS);
        this.idleTimer.unref();
      }
    };
  }

  /** Grant waiters in order while they fit; the bytes are counted before the waiter resumes. */
  private wake(): void {
    while (this.waiters.length > 0 && this.fits(this.waiters[0]!.bytes)) {
      const w = this.waiters.shift()!;
      this.used += w.bytes;
      w.grant();
    }
    if (this.roomWatchers.length > 0 && !this.full && this.waiters.length === 0) {
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
export const processBudget = new BufferBudget(positiveFromEnv('FERRY_BUFFER_BUDGET', 256 * MiB));

/** A positive whole number from the environment variable `name`, else `fallback`. */
function positiveFromEnv(name: string, fallback: number): number {
  const n = Number.parseInt(process.env[name] ?? '', 10);
  return n > 0 ? n : fallback;
}
