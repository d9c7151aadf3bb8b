import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { pageOf } from '../accounts/validation.js';
import type { Dialect } from '../db/database.js';
import { dbNowIso, nowIso } from '../db/database.js';
import { StorageError } from '../storage/errors.js';
import type { DeliveredEvent, DeliveryStatus, DeliveryView } from './model.js';
import type { EventDeliveriesTable, EventsDb } from './tables.js';

/** A delivery to be queued: the event and which action of which rule. */
export interface NewDelivery {
  rule: string;
  action: number;
  actionType: string;
  event: DeliveredEvent;
}

/** A claimed row, for the worker. */
export interface Claimed {
  id: string;
  rule: string;
  action: number;
  event: DeliveredEvent;
  attempts: number;
}

export interface RetryPolicy {
  /** First retry after this; doubled per attempt. */
  baseMs: number;
  /** Never waits longer than this between attempts. */
  maxMs: number;
  /** Attempts after which a failing delivery is dead. */
  maxAttempts: number;
}

const MAX_ERROR = 1000;

/**
 * The persisted delivery queue (`event_deliveries`). At least once: a worker claims a due row
 * for a lease; only the node holding the row finishes it; a row whose node died is due again
 * when its lease runs out. PostgreSQL: the claim skips rows another node is claiming (`FOR UPDATE
 * SKIP LOCKED`); SQLite: one writer at a time, so the single UPDATE … RETURNING is the claim.
 */
export class DeliveryQueue {
  constructor(
    private readonly db: EventsDb,
    private readonly dialect: Dialect,
  ) {}

  /** Insert deliveries (one statement per 200 rows). */
  async add(rows: NewDelivery[]): Promise<void> {
    const now = nowIso();
    for (let i = 0; i < rows.length; i += 200) {
      await this.db
        .insertInto('event_deliveries')
        .values(
          rows.slice(i, i + 200).map((r) => ({
            id: randomUUID(),
            rule: r.rule,
            action_index: r.action,
            action_type: r.actionType,
            event: JSON.stringify(r.event),
            status: 'pending',
            attempts: 0,
            next_attempt_at: dbNowIso(this.dialect),
            lease_until: null,
            last_error: null,
            node: null,
            created_at: now,
            updated_at: now,
          })),
        )
        .execute();
    }
  }

  /**
   * Claim up to `limit` due rows for `leaseMs` (attempts counted here); `skip`: rule actions
   * (`{rule, action}`) whose rows are left alone (the worker has as many of them under way as it
   * runs at once).
   */
  async claim(
    node: string,
    limit: number,
    leaseMs: number,
    skip: readonly { rule: string; action: number }[] = [],
  ): Promise<Claimed[]> {
    // Due and lapsed by the database's clock, the lease too: a node whose clock runs ahead must
    // not see another node's live lease as lapsed (the event would be delivered twice).
    const now = dbNowIso(this.dialect);
    const lease = dbNowIso(this.dialect, leaseMs);
    const lock = this.dialect === 'postgres' ? sql`for update skip locked` : sql``;
    const skipped = skip.length
      ? sql`and not (${sql.join(
          skip.map((s) => sql`(rule = ${s.rule} and action_index = ${s.action})`),
          sql` or `,
        )})`
      : sql``;
    const result = await sql<EventDeliveriesTable>`
      update event_deliveries
         set status = 'running', node = ${node}, lease_until = ${lease},
             attempts = attempts + 1, updated_at = ${nowIso()}
       where id in (
         select id from event_deliveries
          where ((status = 'pending' and next_attempt_at <= ${now})
             or (status = 'running' and lease_until <= ${now}))
             ${skipped}
          order by next_attempt_at
          limit ${limit}
          ${lock})
      returning *`.execute(this.db);
    return result.rows.map((r) => ({
      id: r.id,
      rule: r.rule,
      action: Number(r.action_index),
      event: JSON.parse(r.event) as DeliveredEvent,
      attempts: Number(r.attempts),
    }));
  }

  /**
   * Keep a running row this node's for another `leaseMs` (called while its action runs). False
   * when the node no longer holds it.
   */
  async renew(id: string, node: string, leaseMs: number): Promise<boolean> {
    const r = await this.db
      .updateTable('event_deliveries')
      .set({ lease_until: dbNowIso(this.dialect, leaseMs) })
      .where('id', '=', id)
      .where('node', '=', node)
      .where('status', '=', 'running')
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  /**
   * A claimed row given back untried (the worker has enough of its rule action under way): pending
   * again, due as it was, its claim not counted as an attempt.
   */
  async release(id: string, node: string): Promise<void> {
    await this.db
      .updateTable('event_deliveries')
      .set((eb) => ({
        status: 'pending',
        attempts: eb('attempts', '-', 1),
        lease_until: null,
        updated_at: nowIso(),
      }))
      .where('id', '=', id)
      .where('node', '=', node)
      .where('status', '=', 'running')
      .execute();
  }

  /** Delivered. False when this node no longer held the row (its lease ran out and it was re-claimed). */
  async done(id: string, node: string): Promise<boolean> {
    const r = await this.db
      .updateTable('event_deliveries')
      .set({ status: 'done', lease_until: null, last_error: null, updated_at: nowIso() })
      .where('id', '=', id)
      .where('node', '=', node)
      .where('status', '=', 'running')
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  /**
   * A delivery of `rule`'s action `action` just succeeded, so its receiver is back: the rows of
   * the same action that are waiting out a backoff are due now, instead of each at its own next
   * step (with the default doubling from 10 s, up to tens of minutes after the receiver's return).
   * Attempts are kept: a row that fails again backs off from where it was. Returns the rows woken.
   */
  async wake(rule: string, action: number): Promise<number> {
    const now = dbNowIso(this.dialect);
    const r = await this.db
      .updateTable('event_deliveries')
      .set({ next_attempt_at: now, updated_at: nowIso() })
      .where('rule', '=', rule)
      .where('action_index', '=', action)
      .where('status', '=', 'pending')
      .where('attempts', '>', 0)
      .where('next_attempt_at', '>', now)
      .executeTakeFirst();
    return Number(r.numUpdatedRows);
  }

  /** Failed: pending again after the backoff, or dead after the last attempt (or when `final`). */
  async failed(
    c: Claimed,
    node: string,
    error: string,
    policy: RetryPolicy,
    final = false,
  ): Promise<DeliveryStatus> {
    const dead = final || c.attempts >= policy.maxAttempts;
    const wait = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, c.attempts - 1));
    await this.db
      .updateTable('event_deliveries')
      .set({
        status: dead ? 'dead' : 'pending',
        next_attempt_at: dbNowIso(this.dialect, wait),
        lease_until: null,
        last_error: error.slice(0, MAX_ERROR),
        updated_at: nowIso(),
      })
      .where('id', '=', c.id)
      .where('node', '=', node)
      .where('status', '=', 'running')
      .execute();
    return dead ? 'dead' : 'pending';
  }

  /** A dead (or done) delivery queued again from the start. */
  async retry(id: string): Promise<DeliveryView> {
    const row = await this.#row(id);
    if (row.status === 'pending' || row.status === 'running')
      throw new StorageError('Conflict', `delivery ${id} is ${row.status}: it is already being delivered`);
    await this.db
      .updateTable('event_deliveries')
      .set({
        status: 'pending',
        attempts: 0,
        next_attempt_at: dbNowIso(this.dialect),
        lease_until: null,
        updated_at: nowIso(),
      })
      .where('id', '=', id)
      .execute();
    return this.get(id);
  }

  async get(id: string): Promise<DeliveryView> {
    return view(await this.#row(id));
  }

  /** Newest first; `status` and `rule` narrow. */
  async list(filter: { status?: DeliveryStatus; rule?: string; offset?: number; limit?: number } = {}) {
    const { offset, limit } = pageOf(filter);
    let q = this.db.selectFrom('event_deliveries').selectAll();
    if (filter.status) q = q.where('status', '=', filter.status);
    if (filter.rule) q = q.where('rule', '=', filter.rule);
    const rows = await q.orderBy('created_at', 'desc').orderBy('id').offset(offset).limit(limit).execute();
    return rows.map(view);
  }

  /** Drop delivered rows older than `before` (ISO). */
  async prune(before: string): Promise<number> {
    const r = await this.db
      .deleteFrom('event_deliveries')
      .where('status', '=', 'done')
      .where('updated_at', '<', before)
      .executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  async #row(id: string): Promise<EventDeliveriesTable> {
    const row = await this.db
      .selectFrom('event_deliveries')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    if (!row) throw new StorageError('NotFound', `no event delivery ${id}`);
    return row;
  }
}

function view(r: EventDeliveriesTable): DeliveryView {
  return {
    id: r.id,
    rule: r.rule,
    action: Number(r.action_index),
    actionType: r.action_type,
    event: JSON.parse(r.event) as DeliveredEvent,
    status: r.status as DeliveryStatus,
    attempts: Number(r.attempts),
    nextAttemptAt: r.next_attempt_at,
    ...(r.last_error === null ? {} : { lastError: r.last_error }),
    ...(r.node === null ? {} : { node: r.node }),
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}
