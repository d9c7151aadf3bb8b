import type { Kysely, Migration } from 'kysely';
import type { Database } from '../db/schema.js';

/**
 * The event rules' tables (migration `0004-event-rules`, appended to src/db/migrations.ts). They
 * are typed here, beside their only users, and laid over the store's Database type with
 * `withTables`.
 */
export type EventTables = {
  event_rules: EventRulesTable;
  event_deliveries: EventDeliveriesTable;
};

export type EventRulesTable = {
  name: string;
  /** 1 or 0. */
  enabled: number;
  /** JSON: on, filters, actions without their secrets (model.ts). */
  settings: string;
  /** JSON of `{ "<action index>": secret }`, sealed (secret-box.ts, bound to the rule); null: none. */
  secrets: string | null;
  created_at: string;
  updated_at: string;
};

/**
 * One row per (event, matched action): the persisted queue. `id` is the stable delivery id a
 * receiver de-duplicates on (X-Ferry-Delivery). A worker claims a due row by setting `running`,
 * its `node` and `lease_until`; a row whose lease ran out is due again.
 */
export type EventDeliveriesTable = {
  id: string;
  rule: string;
  action_index: number;
  action_type: string;
  /** JSON: model.ts DeliveredEvent. */
  event: string;
  status: string;
  attempts: number;
  next_attempt_at: string;
  lease_until: string | null;
  last_error: string | null;
  node: string | null;
  created_at: string;
  updated_at: string;
};

export type EventsDb = Kysely<Database & EventTables>;

export function eventsDb(db: Kysely<Database>): EventsDb {
  return db.withTables<EventTables>();
}

/** `0004-event-rules`: the two tables and the index the workers' claim runs on. */
export function eventRulesMigration(): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('event_rules')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('enabled', 'integer', (c) => c.notNull().defaultTo(1))
        .addColumn('settings', 'text', (c) => c.notNull())
        .addColumn('secrets', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('event_deliveries')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('rule', 'text', (c) => c.notNull())
        .addColumn('action_index', 'integer', (c) => c.notNull())
        .addColumn('action_type', 'text', (c) => c.notNull())
        .addColumn('event', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('next_attempt_at', 'text', (c) => c.notNull())
        .addColumn('lease_until', 'text')
        .addColumn('last_error', 'text')
        .addColumn('node', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('event_deliveries_due')
        .on('event_deliveries')
        .columns(['status', 'next_attempt_at'])
        .execute();
    },
  };
}
