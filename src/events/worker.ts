import { runCommand } from './actions/command.js';
import { type CopyDeps, copyAction } from './actions/copy.js';
import type { EmailAction } from './actions/email.js';
import { type ActionContext, PermanentError } from './actions/template.js';
import { sendWebhook } from './actions/webhook.js';
import type { RuleAction } from './model.js';
import type { Claimed, DeliveryQueue, RetryPolicy } from './queue.js';
import type { Rule } from './rules.js';

export interface WorkerOptions {
  queue: DeliveryQueue;
  /** The rule as it is now (undefined: removed). */
  findRule: (name: string) => Promise<Rule | undefined>;
  node: string;
  policy: RetryPolicy;
  /** How often the store is asked for due rows when nothing pokes the worker (ms). */
  pollMs: number;
  /** A claimed row is this node's for this long (longer than any action's timeout). */
  leaseMs: number;
  /** Deliveries run at once on this node. */
  concurrency: number;
  copy: CopyDeps;
  email: (action: EmailAction, ctx: ActionContext) => Promise<void>;
  /** Delivered rows are deleted after this long (ms). */
  keepDoneMs: number;
  onError: (err: unknown) => void;
  /** Each finished attempt (metrics, logs, tests). */
  onAttempt?: (c: Claimed, outcome: string, error?: string) => void;
}

/**
 * The delivery worker of one node: claims due rows (queue.ts), runs each row's action, and
 * marks it done, pending again after the backoff, or dead. Rows of other nodes are claimed too:
 * any node delivers any event. `stop` aborts the deliveries under way: they count as a failed
 * attempt and are retried (a receiver may then see one twice: it de-duplicates by delivery id).
 */
export class DeliveryWorker {
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  #stopped = false;
  #lastPrune = 0;
  /** Rule actions (`rule\0index`) that failed on this node since their last success. */
  readonly #failing = new Set<string>();
  readonly #abort = new AbortController();
  /** Deliveries under way on this node, and how many of each rule action (`rule\0index`). */
  readonly #active = new Set<Promise<void>>();
  readonly #perAction = new Map<string, number>();
  /** The last claim may have left due rows behind (it was full, or it skipped busy actions). */
  #more = false;

  constructor(private readonly o: WorkerOptions) {}

  start(): void {
    this.#schedule(0);
  }

  /** Look for due rows now (after this node queued some). */
  poke(): void {
    if (this.#stopped) return;
    if (this.#running) this.#again = true;
    else this.#schedule(0);
  }

  /** Stop claiming; deliveries under way are aborted (their rows are retried, here or elsewhere). */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#abort.abort();
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running;
    await Promise.allSettled([...this.#active]);
  }

  /**
   * How many rows of one rule action run at once here: half the concurrency, one while the action
   * fails on this node. A receiver that hangs (or a slow copy) so holds part of the worker only:
   * the other rules' deliveries go on in the other slots.
   */
  #cap(key: string): number {
    return this.#failing.has(key) ? 1 : Math.max(1, Math.floor(this.o.concurrency / 2));
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#running = this.#tick().finally(() => {
        this.#running = undefined;
        const again = this.#again;
        this.#again = false;
        this.#schedule(again ? 0 : this.o.pollMs);
      });
    }, ms);
  }

  /**
   * Claim due rows for the free slots and start them; each runs on its own (a slow one holds its
   * slot, not the others), and when one ends the worker looks for more.
   */
  async #tick(): Promise<void> {
    try {
      this.#more = false;
      for (;;) {
        if (this.#stopped) return;
        const free = this.o.concurrency - this.#active.size;
        if (free <= 0) {
          this.#more = true;
          break;
        }
        const skip = [...this.#perAction]
          .filter(([key, n]) => n >= this.#cap(key))
          .map(([key]) => {
            const [rule, action] = key.split('\0');
            return { rule: rule as string, action: Number(action) };
          });
        const claimed = await this.o.queue.claim(this.o.node, free, this.o.leaseMs, skip);
        let given = 0;
        for (const c of claimed) {
          const key = `${c.rule}\0${c.action}`;
          if ((this.#perAction.get(key) ?? 0) >= this.#cap(key)) {
            await this.o.queue.release(c.id, this.o.node);
            given++;
          } else this.#start(c, key);
        }
        if (skip.length > 0 || given > 0) this.#more = true;
        if (claimed.length < free) break;
      }
      if (Date.now() - this.#lastPrune > 60_000) {
        this.#lastPrune = Date.now();
        await this.o.queue.prune(new Date(Date.now() - this.o.keepDoneMs).toISOString());
      }
    } catch (err) {
      this.o.onError(err);
    }
  }

  #start(c: Claimed, key: string): void {
    this.#perAction.set(key, (this.#perAction.get(key) ?? 0) + 1);
    const run: Promise<void> = this.#deliver(c).finally(() => {
      this.#active.delete(run);
      const n = (this.#perAction.get(key) ?? 1) - 1;
      if (n > 0) this.#perAction.set(key, n);
      else this.#perAction.delete(key);
      // Half the slots are free: rows left behind are claimed now (several in one claim), not at
      // the next poll.
      if (this.#more && this.#active.size <= Math.floor(this.o.concurrency / 2)) this.poke();
    });
    this.#active.add(run);
  }

  async #deliver(c: Claimed): Promise<void> {
    let error: string | undefined;
    let final = false;
    // While the action runs (a big copy has no timeout), the lease is renewed every third of it,
    // so no other worker takes the row and runs it a second time. A renewal the store refuses
    // means another node holds the row now: this run is aborted.
    const lost = new AbortController();
    const renewal = setInterval(
      () => {
        this.o.queue.renew(c.id, this.o.node, this.o.leaseMs).then(
          (held) => {
            if (!held) lost.abort(new Error('the lease was lost to another node'));
          },
          (err) => this.o.onError(err),
        );
      },
      Math.max(1, Math.floor(this.o.leaseMs / 3)),
    );
    try {
      const rule = await this.o.findRule(c.rule);
      const action = rule?.actions[c.action];
      if (!rule || !action)
        throw new PermanentError(rule ? 'the rule has no such action any more' : 'rule removed');
      const signal = AbortSignal.any([this.#abort.signal, lost.signal]);
      await this.#run(action, { deliveryId: c.id, rule: c.rule, event: c.event, signal });
    } catch (err) {
      error = err instanceof Error ? err.message : String(err);
      final = err instanceof PermanentError;
    } finally {
      clearInterval(renewal);
    }
    try {
      if (error === undefined) {
        const held = await this.o.queue.done(c.id, this.o.node);
        this.o.onAttempt?.(c, 'done');
        // A retried delivery got through, or one whose action failed here lately: its receiver is
        // back, and the rest of its backlog is due now (one UPDATE, only after failures).
        const failedHere = this.#failing.delete(`${c.rule}\0${c.action}`);
        if (held && (c.attempts > 1 || failedHere)) {
          if ((await this.o.queue.wake(c.rule, c.action)) > 0) this.poke();
        }
      } else {
        this.#failing.add(`${c.rule}\0${c.action}`);
        const status = await this.o.queue.failed(c, this.o.node, error, this.o.policy, final);
        this.o.onAttempt?.(c, status, error);
      }
    } catch (err) {
      // The store did not take the outcome: the lease runs out and the row is delivered again.
      this.o.onError(err);
    }
  }

  #run(action: RuleAction, ctx: ActionContext): Promise<void> {
    switch (action.type) {
      case 'webhook':
        return sendWebhook(action, ctx);
      case 'command':
        return runCommand(action, ctx);
      case 'copy':
      case 'move':
        return copyAction(action, ctx, this.o.copy);
      case 'email':
        return this.o.email(action, ctx);
    }
  }
}
