import { type Kysely, sql } from 'kysely';
import type { Database } from '../db/schema.js';
import { type AccountsContext, recordChange } from './context.js';
import type { Actor, ChangeFeed, Defender } from './types.js';
import { requireRole } from './validation.js';

/** SFTPGo's defaults: 5 failures within 5 minutes → banned for 15 minutes. */
export interface DefenderOptions {
  maxFailures?: number;
  windowSeconds?: number;
  banSeconds?: number;
}

/**
 * Failed-login throttling in the `defender` table, keyed `ip:ADDRESS` and `user:NAME`, so every
 * node counts the same failures and honours the same bans. A failure is one upsert (atomic on
 * both databases: concurrent failures on two nodes both count); the failure that reaches the limit
 * starts the ban. A banned key stays banned until `banned_until` even if failures continue.
 */
export class StoreDefender implements Defender {
  readonly #max: number;
  readonly #windowMs: number;
  readonly #banMs: number;

  constructor(
    private readonly ctx: AccountsContext,
    options: DefenderOptions = {},
  ) {
    this.#max = options.maxFailures ?? 5;
    this.#windowMs = (options.windowSeconds ?? 300) * 1000;
    this.#banMs = (options.banSeconds ?? 900) * 1000;
  }

  private get db(): Kysely<Database> {
    return this.ctx.db;
  }

  private get changes(): ChangeFeed {
    return this.ctx.changes;
  }

  async bannedUntil(ip: string, username?: string): Promise<Date | undefined> {
    const now = new Date().toISOString();
    const rows = await this.db
      .selectFrom('defender')
      .select('banned_until')
      .where('key', 'in', keys(ip, username))
      .where('banned_until', '>', now)
      .execute();
    const until = rows
      .map((r) => r.banned_until!)
      .sort()
      .at(-1);
    return until === undefined ? undefined : new Date(until);
  }

  async failed(ip: string, username?: string): Promise<void> {
    const now = Date.now();
    const nowIso = new Date(now).toISOString();
    const cutoff = new Date(now - this.#windowMs).toISOString();
    let banned = false;
    for (const key of keys(ip, username)) {
      const r = await sql<{ failures: number; banned_until: string | null }>`
        insert into defender (key, failures, window_start, banned_until) values (${key}, 1, ${nowIso}, null)
        on conflict (key) do update set
          failures = case when defender.window_start < ${cutoff} then 1 else defender.failures + 1 end,
          window_start = case when defender.window_start < ${cutoff} then ${nowIso} else defender.window_start end
        returning failures, banned_until`.execute(this.db);
      const row = r.rows[0];
      const active = row?.banned_until != null && row.banned_until > nowIso;
      if (row && row.failures >= this.#max && !active) {
        await this.db
          .updateTable('defender')
          .set({ banned_until: new Date(now + this.#banMs).toISOString(), failures: 0, window_start: nowIso })
          .where('key', '=', key)
          .execute();
        banned = true;
      }
    }
    if (banned) await this.changes.bump('defender');
  }

  async succeeded(ip: string, username: string): Promise<void> {
    // Failures are forgotten; an active ban is not (a success cannot happen while banned anyway).
    await this.db
      .deleteFrom('defender')
      .where('key', 'in', keys(ip, username))
      .where((eb) =>
        eb.or([eb('banned_until', 'is', null), eb('banned_until', '<=', new Date().toISOString())]),
      )
      .execute();
  }

  async unban(key: string, actor: Actor): Promise<void> {
    requireRole(actor, 'defender', 'lift bans');
    await this.db.deleteFrom('defender').where('key', '=', key).execute();
    await recordChange(this.ctx, actor, 'defender', 'unban', key);
  }

  async list(): Promise<{ key: string; failures: number; bannedUntil?: string }[]> {
    const rows = await this.db.selectFrom('defender').selectAll().orderBy('key').execute();
    return rows.map((r) => ({
      key: r.key,
      failures: r.failures,
      ...(r.banned_until === null ? {} : { bannedUntil: r.banned_until }),
    }));
  }
}

function keys(ip: string, username?: string): string[] {
  return username === undefined ? [`ip:${ip}`] : [`ip:${ip}`, `user:${username}`];
}
