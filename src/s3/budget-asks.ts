import { StorageError } from '../storage/errors.js';

/** While a reservation waits, `spillable` holders are asked this often. */
const ASK_EVERY_MS = 250;
const MiB = 1024 * 1024;

/**
 * An idle holder's answer to being asked for budget (`spillable`): `bytes` it is giving back now
 * (written to disk, then released), and `done`, settled (never rejected) once it has given them
 * back or failed to.
 */
export interface SpillOffer {
  bytes: number;
  done: Promise<void>;
}

/** What BudgetAsks needs of its BufferBudget. */
export interface AskedBudget {
  readonly limit: number;
  /** Whether a reservation waits. */
  readonly waiting: boolean;
  /** Bytes the waiters lack: held plus waited for (plus `arriving`, not yet queued), past the limit. */
  lacking(arriving: number): number;
  /** Fail every waiting reservation `refusal` gives an error for (the others go on waiting). */
  refuse(refusal: (bytes: number) => Error | undefined): void;
}

/**
 * The budget's side of asking holders to give reservations back while one waits (buffer-budget.ts
 * `acquire`): read-ahead taken only in advance (`reclaimable`: all of it, at once), and what only a
 * holder's client could free (`spillable`: an S3 write handle's part being filled, written to disk
 * once the handle is idle; part-spill.ts) — asked oldest first, at once and then every
 * ASK_EVERY_MS, and only for as much as the waiters lack beyond what is being spilled already.
 * Asking every idle holder made N idle uploads each write its part to disk and read it back when
 * one small reservation waited (docs/notes/issue-9.md "Session 7: review", "Session 8: spill").
 *
 * A holder that could not spill (the disk is full: `unspillable`) keeps its bytes until its
 * client's next call. A waiting reservation that cannot fit even once everything else is given
 * back is then refused with an error saying why, rather than left waiting for a client that may
 * be waiting for it (hold-and-wait across handles: hung until the idle timeout).
 */
export class BudgetAsks {
  private readonly reclaimers = new Set<() => void>();
  private readonly spillers = new Set<() => SpillOffer | undefined>();
  private timer: NodeJS.Timeout | undefined;
  /** Bytes holders are spilling now (offered, not yet given back or failed). */
  private spilling = 0;
  /** Bytes held by idle holders whose spill failed, until their next call; and the last failure. */
  private stuck = 0;
  private why: Error | undefined;

  constructor(private readonly budget: AskedBudget) {}

  reclaimable(reclaim: () => void): () => void {
    this.reclaimers.add(reclaim);
    return () => this.reclaimers.delete(reclaim);
  }

  spillable(offer: () => SpillOffer | undefined): () => void {
    this.spillers.add(offer);
    return () => this.spillers.delete(offer);
  }

  /**
   * An idle holder could not give back `bytes` (`why`: the spill failed): they stay held until
   * the returned function is called (its client's next call, or its end). Waiters that cannot fit
   * beside all such bytes are refused at once.
   */
  unspillable(bytes: number, why: Error): () => void {
    this.stuck += bytes;
    this.why = why;
    this.refuseStuck();
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      this.stuck -= bytes;
    };
  }

  /** Refuse the waiters that cannot fit beside the bytes no holder can give back now. */
  refuseStuck(): void {
    if (this.stuck === 0) return;
    const { limit } = this.budget;
    this.budget.refuse((bytes) =>
      this.stuck + bytes <= limit
        ? undefined
        : new StorageError(
            'Transient',
            `no room for ${mib(bytes)} in the transfer buffer budget (${mib(limit)}): ${mib(this.stuck)} of it is held by idle uploads whose parts could not be moved to disk (${this.why?.message}); free space in the spill folder (FERRY_SPILL_DIR) or raise the budget`,
            { cause: this.why },
          ),
    );
  }

  /** A reservation of `arriving` bytes is about to wait: ask holders, and keep asking while one waits. */
  ask(arriving: number): void {
    for (const reclaim of [...this.reclaimers]) reclaim();
    this.askSpillers(arriving);
    if (this.timer !== undefined || this.spillers.size === 0) return;
    this.timer = setInterval(() => {
      if (!this.budget.waiting) {
        clearInterval(this.timer);
        this.timer = undefined;
        return;
      }
      this.askSpillers(0);
    }, ASK_EVERY_MS);
    this.timer.unref();
  }

  /** Oldest first, until what is being spilled covers what the waiters lack. */
  private askSpillers(arriving: number): void {
    for (const offer of [...this.spillers]) {
      if (this.budget.lacking(arriving) <= this.spilling) return;
      const given = offer();
      if (given === undefined) continue;
      this.spilling += given.bytes;
      void given.done.finally(() => {
        this.spilling -= given.bytes;
      });
    }
  }
}

function mib(bytes: number): string {
  return `${Math.round((bytes / MiB) * 10) / 10} MiB`;
}
