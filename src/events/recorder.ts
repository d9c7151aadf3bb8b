import picomatch from 'picomatch';
import type { SessionEvent } from '../session/types.js';
import { StorageError } from '../storage/errors.js';
import { deliveredEvent, type RuleFilters } from './model.js';
import type { DeliveryQueue, NewDelivery } from './queue.js';
import type { Rule } from './rules.js';

/** A rule ready for matching: its globs compiled. */
interface Compiled {
  rule: Rule;
  kinds: Set<string>;
  paths?: (path: string) => boolean;
}

export interface RecorderOptions {
  queue: Pick<DeliveryQueue, 'add'>;
  /** The rules (reloaded on a `event_rules` change). */
  loadRules: () => Promise<Rule[]>;
  /** A user's groups (only asked when a rule filters by group). */
  groupsOf: (username: string) => Promise<string[]>;
  node: string;
  /** Rows are inserted this long after the first of a batch (ms). */
  batchMs?: number;
  /** Called after rows were inserted (the local worker looks at once). */
  onQueued?: () => void;
  onError: (err: unknown) => void;
  /**
   * Rows held in memory while the store refuses them; past this the newest are dropped (and
   * said so), rather than the process running out of memory. Default 100 000.
   */
  maxBuffered?: number;
}

/**
 * The EventBus subscriber of event rules: matches each event against the enabled rules and
 * queues one delivery per (event, action). It never slows the operation: matching is in memory
 * (a group filter asks the accounts, cached by them), and rows are inserted in batches after the
 * event. A failed insert is retried (the rows stay in memory up to `maxBuffered`, past that dropped and logged); `stop` waits for
 * every matched event to be inserted, so a server stopped between an event and its delivery
 * finds the delivery queued at its next start. (A process killed outright loses the rows of the
 * last `batchMs`.)
 */
export class EventRecorder {
  #rules: Compiled[] = [];
  #kinds = new Set<string>();
  #buffer: NewDelivery[] = [];
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> | undefined;
  readonly #matching = new Set<Promise<void>>();
  #stopped = false;
  #dropped = 0;

  constructor(private readonly o: RecorderOptions) {}

  async reload(): Promise<void> {
    const rules = (await this.o.loadRules()).filter((r) => r.enabled);
    this.#rules = rules.map((rule) => ({
      rule,
      kinds: new Set(rule.on),
      paths: rule.filters.paths.length ? picomatch(rule.filters.paths, { dot: true }) : undefined,
    }));
    this.#kinds = new Set(rules.flatMap((r) => r.on));
  }

  /** The bus listener. */
  readonly listener = (event: SessionEvent): void => {
    if (!this.#kinds.has(event.kind)) return;
    const p = this.#match(event).catch(this.o.onError);
    this.#matching.add(p);
    void p.finally(() => this.#matching.delete(p));
  };

  async #match(event: SessionEvent): Promise<void> {
    let groups: string[] | undefined;
    const rows: NewDelivery[] = [];
    const delivered = deliveredEvent(event, this.o.node);
    for (const c of this.#rules) {
      if (!c.kinds.has(event.kind) || !passes(c, event)) continue;
      if (c.rule.filters.groups.length) {
        if (groups === undefined) {
          try {
            groups = await this.#groupsOf(event.username);
          } catch (err) {
            // Never a silent "not a member": the event is lost for this rule, and said so.
            this.o.onError(
              new Error(
                `event rules: the groups of ${event.username} could not be read (${(err as Error).message}): ` +
                  `the ${event.kind} of ${event.path ?? '-'} is not queued for rule ${c.rule.name}`,
              ),
            );
            continue;
          }
        }
        if (!c.rule.filters.groups.some((g) => groups?.includes(g))) continue;
      }
      c.rule.actions.forEach((a, i) => {
        rows.push({ rule: c.rule.name, action: i, actionType: a.type, event: delivered });
      });
    }
    if (rows.length === 0) return;
    const room = (this.o.maxBuffered ?? 100_000) - this.#buffer.length;
    if (room < rows.length) {
      if (this.#dropped === 0)
        this.o.onError(
          new Error('event rules: the store takes no deliveries and the buffer is full: events dropped'),
        );
      this.#dropped += rows.length - Math.max(0, room);
    }
    this.#buffer.push(...rows.slice(0, Math.max(0, room)));
    this.#schedule();
  }

  /** A user's groups, asked up to three times (a busy store is not "not a member"). */
  async #groupsOf(username: string): Promise<string[]> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.o.groupsOf(username);
      } catch (err) {
        // No such user (a failed login with an unknown name): no groups, not an error.
        if (StorageError.is(err, 'NotFound')) return [];
        if (attempt >= 3) throw err;
        await new Promise((r) => setTimeout(r, 100 * attempt));
      }
    }
  }

  #schedule(): void {
    if (this.#timer || this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.flush();
    }, this.o.batchMs ?? 20);
  }

  /** Insert what is buffered; on failure keep it and try again in a second. */
  flush(): Promise<void> {
    this.#flushing ??= (async () => {
      try {
        while (this.#buffer.length) {
          const batch = this.#buffer.slice(0, 500);
          try {
            await this.o.queue.add(batch);
          } catch (err) {
            this.o.onError(err);
            if (!this.#stopped) {
              this.#timer ??= setTimeout(() => {
                this.#timer = undefined;
                void this.flush();
              }, 1000);
            }
            return;
          }
          this.#buffer.splice(0, batch.length);
          if (this.#dropped) {
            this.o.onError(
              new Error(`event rules: ${this.#dropped} deliveries were dropped while the store was down`),
            );
            this.#dropped = 0;
          }
          this.o.onQueued?.();
        }
      } finally {
        this.#flushing = undefined;
      }
    })();
    return this.#flushing;
  }

  /** Rows matched but not yet in the store. */
  get buffered(): number {
    return this.#buffer.length;
  }

  /** Wait for events being matched, insert every row left (trying a few times), stop. */
  async stop(): Promise<void> {
    await Promise.allSettled([...this.#matching]);
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#stopped = true;
    for (let i = 0; i < 5 && (this.#buffer.length || this.#flushing); i++) {
      await this.#flushing;
      await this.flush();
      if (this.#buffer.length) await new Promise((r) => setTimeout(r, 200));
    }
    if (this.#buffer.length)
      this.o.onError(new Error(`event rules: ${this.#buffer.length} deliveries could not be queued at stop`));
  }
}

/** The filters that need no lookup: result, user, size, path. */
function passes(c: Compiled, e: SessionEvent): boolean {
  const f: RuleFilters = c.rule.filters;
  if (f.result === 'ok' && e.result !== 'ok') return false;
  if (f.result === 'failed' && e.result === 'ok') return false;
  if (f.users.length && !f.users.includes(e.username)) return false;
  if (f.minSize !== undefined || f.maxSize !== undefined) {
    if (e.bytes === undefined) return false;
    if (f.minSize !== undefined && e.bytes < f.minSize) return false;
    if (f.maxSize !== undefined && e.bytes > f.maxSize) return false;
  }
  if (c.paths) {
    const paths = [e.path, e.targetPath].filter((p): p is string => p !== undefined);
    if (!paths.some((p) => c.paths?.(p))) return false;
  }
  return true;
}
