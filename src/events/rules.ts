import { z } from 'zod';
import { listByName } from '../accounts/list-by-name.js';
import type { SecretBox } from '../accounts/secret-box.js';
import type { Actor, AuditLog, ChangeFeed, Page } from '../accounts/types.js';
import { actorName, isUniqueViolation, parseInput, parsePatch, requireRole } from '../accounts/validation.js';
import { nowIso } from '../db/database.js';
import { StorageError } from '../storage/errors.js';
import {
  actionSchema,
  filtersSchema,
  type RuleAction,
  type RuleInput,
  type RulePatch,
  type RuleView,
  ruleEventKinds,
  ruleInputSchema,
  rulePatchSchema,
} from './model.js';
import type { EventRulesTable, EventsDb } from './tables.js';

/** The change-feed topic of rules: every node reloads its rules when it is bumped. */
export const RULES_TOPIC = 'event_rules';

/** A rule as the matcher and the worker use it: secrets opened. */
export interface Rule {
  name: string;
  enabled: boolean;
  on: RuleView['on'];
  filters: RuleView['filters'];
  actions: RuleAction[];
}

const storedSchema = z.object({
  on: z.array(z.enum(ruleEventKinds)),
  filters: filtersSchema,
  actions: z.array(actionSchema),
});

export interface RuleServiceOptions {
  db: EventsDb;
  box: SecretBox;
  audit: Pick<AuditLog, 'record'>;
  changes: Pick<ChangeFeed, 'bump'>;
  /** Awaited after each change (the server: this node's matcher reloads before answering). */
  onChanged?: () => Promise<void>;
}

/**
 * Event rules in the store. Rules run commands and reach other buckets on the server's behalf:
 * only role `admin` changes them (every role reads them). A webhook's secret is sealed with the
 * server's key, bound to the rule's name, and never shown again (`secretSet`).
 */
export class RuleService {
  constructor(private readonly o: RuleServiceOptions) {}

  async create(input: RuleInput, actor: Actor): Promise<RuleView> {
    requireRole(actor, 'connections', 'create event rules');
    const r = parseInput(ruleInputSchema, input, 'event rule');
    const now = nowIso();
    try {
      await this.o.db
        .insertInto('event_rules')
        .values({ name: r.name, ...this.#columns(r.name, r), created_at: now, updated_at: now })
        .execute();
    } catch (err) {
      if (isUniqueViolation(err))
        throw new StorageError('AlreadyExists', `name: an event rule named ${r.name} already exists`);
      throw err;
    }
    await this.#changed(actor, 'create', r.name, Object.keys(input as object));
    return this.get(r.name);
  }

  async get(name: string): Promise<RuleView> {
    return this.#view(await this.#row(name));
  }

  async list(page?: Page): Promise<RuleView[]> {
    const rows = await listByName(this.o.db, 'event_rules', page);
    return rows.map((r) => this.#view(r));
  }

  /**
   * Change the fields sent. `actions` replaces the list; a webhook sent without `secret` keeps
   * the secret of the action at the same position when that was a webhook to the same URL.
   */
  async update(name: string, patch: RulePatch, actor: Actor): Promise<RuleView> {
    requireRole(actor, 'connections', 'change event rules');
    const p = parsePatch(rulePatchSchema, patch, 'event rule');
    const current = await this.#rule(await this.#row(name));
    const set = p.set as Partial<Rule>;
    const next: Rule = {
      name,
      enabled: set.enabled ?? current.enabled,
      on: set.on ?? current.on,
      filters: set.filters ?? current.filters,
      actions:
        set.actions?.map((a, i) => {
          const old = current.actions[i];
          if (a.type === 'webhook' && a.secret === undefined && old?.type === 'webhook' && old.url === a.url)
            return { ...a, ...(old.secret ? { secret: old.secret } : {}) };
          return a;
        }) ?? current.actions,
    };
    // The whole rule is checked again (a new `on` against old copy actions).
    parseInput(ruleInputSchema, next, 'event rule');
    await this.o.db
      .updateTable('event_rules')
      .set({ ...this.#columns(name, next), updated_at: nowIso() })
      .where('name', '=', name)
      .execute();
    await this.#changed(actor, 'update', name, Object.keys(patch as object));
    return this.get(name);
  }

  /** Removes the rule; its pending deliveries then end as dead (`rule removed`). */
  async remove(name: string, actor: Actor): Promise<void> {
    requireRole(actor, 'connections', 'remove event rules');
    await this.#row(name);
    await this.o.db.deleteFrom('event_rules').where('name', '=', name).execute();
    await this.#changed(actor, 'remove', name);
  }

  /** Every rule with its secrets opened (the matcher and the worker). */
  async all(): Promise<Rule[]> {
    const rows = await this.o.db.selectFrom('event_rules').selectAll().orderBy('name').execute();
    return Promise.all(rows.map((r) => this.#rule(r)));
  }

  /** One rule, secrets opened; undefined when it no longer exists. */
  async find(name: string): Promise<Rule | undefined> {
    const row = await this.o.db
      .selectFrom('event_rules')
      .selectAll()
      .where('name', '=', name)
      .executeTakeFirst();
    return row ? this.#rule(row) : undefined;
  }

  async #row(name: string): Promise<EventRulesTable> {
    const row = await this.o.db
      .selectFrom('event_rules')
      .selectAll()
      .where('name', '=', name)
      .executeTakeFirst();
    if (!row) throw new StorageError('NotFound', `no event rule named ${name}`);
    return row;
  }

  #columns(name: string, r: Omit<Rule, 'name'>): Pick<EventRulesTable, 'enabled' | 'settings' | 'secrets'> {
    const secrets: Record<string, string> = {};
    const actions = r.actions.map((a, i) => {
      if (a.type !== 'webhook') return a;
      const { secret, ...rest } = a;
      if (secret) secrets[String(i)] = secret;
      return rest;
    });
    return {
      enabled: r.enabled ? 1 : 0,
      settings: JSON.stringify({ on: r.on, filters: r.filters, actions }),
      secrets:
        Object.keys(secrets).length === 0
          ? null
          : this.o.box.seal(JSON.stringify(secrets), `event-rule:${name}`),
    };
  }

  #stored(row: EventRulesTable): z.output<typeof storedSchema> {
    const r = storedSchema.safeParse(JSON.parse(row.settings));
    if (!r.success)
      throw new StorageError('Transient', `the stored settings of event rule ${row.name} are invalid`, {
        cause: r.error,
      });
    return r.data;
  }

  async #rule(row: EventRulesTable): Promise<Rule> {
    const s = this.#stored(row);
    const secrets =
      row.secrets === null
        ? {}
        : (JSON.parse(this.o.box.open(row.secrets, `event-rule:${row.name}`)) as Record<string, string>);
    return {
      name: row.name,
      enabled: row.enabled === 1,
      on: s.on,
      filters: s.filters,
      actions: s.actions.map((a, i) =>
        a.type === 'webhook' && secrets[String(i)] ? { ...a, secret: secrets[String(i)] } : a,
      ),
    };
  }

  #view(row: EventRulesTable): RuleView {
    const s = this.#stored(row);
    const set = new Set(row.secrets === null ? [] : this.#secretIndexes(row));
    return {
      name: row.name,
      enabled: row.enabled === 1,
      on: s.on,
      filters: s.filters,
      actions: s.actions.map((a, i) => {
        if (a.type !== 'webhook') return a;
        const { secret: _never, ...rest } = a;
        return { ...rest, secretSet: set.has(String(i)) };
      }),
      createdAt: row.created_at,
      updatedAt: row.updated_at,
    };
  }

  /** Which actions have a secret (opened only to learn the keys; the values go nowhere). */
  #secretIndexes(row: EventRulesTable): string[] {
    return Object.keys(JSON.parse(this.o.box.open(row.secrets as string, `event-rule:${row.name}`)));
  }

  async #changed(actor: Actor, action: 'create' | 'update' | 'remove', name: string, fields?: string[]) {
    await this.o.audit.record({
      kind: 'admin',
      actor: actorName(actor),
      ...(actor.remote ? { remote: actor.remote } : {}),
      path: `event-rules/${name}`,
      result: 'ok',
      detail: { action, ...(fields ? { fields: fields.sort() } : {}) },
    });
    await this.o.changes.bump(RULES_TOPIC);
    await this.o.onChanged?.();
  }
}
