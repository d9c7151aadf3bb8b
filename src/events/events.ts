import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { SecretBox } from '../accounts/secret-box.js';
import type { Accounts, Actor } from '../accounts/types.js';
import { requireRole } from '../accounts/validation.js';
import type { Store } from '../db/database.js';
import type { StoragePool } from '../session/storage-pool.js';
import type { SessionManager } from '../session/types.js';
import { emailSender, type SmtpSettings } from './actions/email.js';
import type { DeliveryStatus, DeliveryView } from './model.js';
import { DeliveryQueue } from './queue.js';
import { EventRecorder } from './recorder.js';
import { RULES_TOPIC, RuleService } from './rules.js';
import type { EventsSettings } from './settings.js';
import { eventsDb } from './tables.js';
import { DeliveryWorker } from './worker.js';

/** What the admin API and CLI use: the rules and the deliveries. */
export interface EventRulesApi {
  rules: RuleService;
  deliveries: {
    list(filter?: {
      status?: DeliveryStatus;
      rule?: string;
      offset?: number;
      limit?: number;
    }): Promise<DeliveryView[]>;
    get(id: string): Promise<DeliveryView>;
    retry(id: string, actor: Actor): Promise<DeliveryView>;
  };
}

/** The rules and deliveries on a store, without a subscriber or worker (the local admin CLI). */
export function eventRulesApi(
  store: Store,
  box: SecretBox,
  accounts: Pick<Accounts, 'audit' | 'changes'>,
  onChanged?: () => Promise<void>,
): EventRulesApi & { queue: DeliveryQueue } {
  const db = eventsDb(store.db);
  const rules = new RuleService({ db, box, audit: accounts.audit, changes: accounts.changes, onChanged });
  const queue = new DeliveryQueue(db, store.dialect);
  return {
    rules,
    queue,
    deliveries: {
      list: (filter) => queue.list(filter),
      get: (id) => queue.get(id),
      retry: async (id, actor) => {
        // Retrying sends again to a receiver or runs a command again: an admin's decision.
        requireRole(actor, 'connections', 'retry event deliveries');
        return queue.retry(id);
      },
    },
  };
}

export interface StartEventsOptions {
  store: Store;
  box: SecretBox;
  accounts: Accounts;
  sessions: SessionManager;
  pool: StoragePool;
  settings: EventsSettings;
  smtp: SmtpSettings;
  onError: (err: unknown) => void;
}

export interface RunningEvents extends EventRulesApi {
  /** This node's name in `event_deliveries.node`. */
  node: string;
  /** Queue what is matched, stop the worker. Call after the session layer has shut down. */
  stop(): Promise<void>;
}

/**
 * Event rules on one node: the EventBus subscriber that queues deliveries, and (unless
 * `events.worker` is off) the worker that delivers due rows of any node.
 */
export async function startEvents(o: StartEventsOptions): Promise<RunningEvents> {
  const node = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  // A change made through this node applies to its next event (other nodes: by the change feed).
  const api = eventRulesApi(o.store, o.box, o.accounts, () => recorder.reload());
  const s = o.settings;
  const worker = s.worker
    ? new DeliveryWorker({
        queue: api.queue,
        findRule: (name) => api.rules.find(name),
        node,
        policy: {
          baseMs: s.retryBaseMilliseconds,
          maxMs: s.retryMaxMilliseconds,
          maxAttempts: s.maxAttempts,
        },
        pollMs: s.pollMilliseconds,
        leaseMs: s.leaseSeconds * 1000,
        concurrency: s.concurrency,
        keepDoneMs: s.keepDoneHours * 3_600_000,
        copy: {
          effective: (username) => o.accounts.users.effective(username),
          storage: (target) => o.pool.get(target),
        },
        email: emailSender(o.smtp),
        onError: o.onError,
      })
    : undefined;
  const recorder = new EventRecorder({
    queue: api.queue,
    loadRules: () => api.rules.all(),
    groupsOf: async (username) => (await o.accounts.users.get(username)).groups,
    node,
    onQueued: () => worker?.poke(),
    onError: o.onError,
  });
  await recorder.reload();
  const unsubscribeChanges = o.accounts.changes.subscribe((topic) => {
    if (topic === RULES_TOPIC) recorder.reload().catch(o.onError);
  });
  const unsubscribeBus = o.sessions.onEvent(recorder.listener);
  worker?.start();
  return {
    ...api,
    node,
    stop: async () => {
      unsubscribeBus();
      unsubscribeChanges();
      await recorder.stop();
      await worker?.stop();
    },
  };
}
