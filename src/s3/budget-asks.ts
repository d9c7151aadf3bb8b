/** While a reservation waits, `spillable` holders are asked this often. */
const ASK_EVERY_MS = 250;

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
  /** Whether a reservation waits. */
  readonly waiting: boolean;
  /** Bytes the waiters lack: held plus waited for (plus `arriving`, not yet queued), past the limit. */
  lacking(arriving: number): number;
}

/**
 * The budget's side of asking holders to give reservations back while one waits (buffer-budget.ts
 * `acquire`): read-ahead taken only in advance (`reclaimable`: all of it, at once), and what only a
 * holder's client could free (`spillable`: an S3 write handle's part being filled, written to disk
 * once the handle is idle; part-spill.ts) — asked oldest first, at once and then every
 * ASK_EVERY_MS, and only for as much as the waiters lack beyond what is being spilled already.
 * Asking every idle holder made N idle uploads each write its part to disk and read it back when
 * one small reservation waited (docs/notes/issue-9.md "Session 7: review", "Session 8: spill").
 */
export class BudgetAsks {
  private readonly reclaimers = new Set<() => void>();
  private readonly spillers = new Set<() => SpillOffer | undefined>();
  private timer: NodeJS.Timeout | undefined;
  /** Bytes holders are spilling now (offered, not yet given back or failed). */
  private spilling = 0;

  constructor(private readonly budget: AskedBudget) {}

  reclaimable(reclaim: () => void): () => void {
    this.reclaimers.add(reclaim);
    return () => this.reclaimers.delete(reclaim);
  }

  spillable(offer: () => SpillOffer | undefined): () => void {
    this.spillers.add(offer);
    return () => this.spillers.delete(offer);
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
