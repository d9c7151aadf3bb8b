import type { Kysely } from 'kysely';
import { nowIso } from '../db/database.js';
import type { Database } from '../db/schema.js';
import type { AuditEntry, AuditLog } from './types.js';
import { pageOf } from './validation.js';

/**
 * The audit log in the store: logins, file operations (the session layer records those) and every
 * admin change (the services record those with their actor). `detail` is JSON and never holds a
 * secret: the services put field *names* there, never values of secret fields.
 */
export class StoreAuditLog implements AuditLog {
  constructor(private readonly db: Kysely<Database>) {}

  async record(entry: AuditEntry): Promise<void> {
    await this.db
      .insertInto('audit_log')
      .values({
        at: nowIso(),
        kind: entry.kind,
        actor: entry.actor,
        protocol: entry.protocol ?? null,
        remote: entry.remote ?? null,
        path: entry.path ?? null,
        target_path: entry.targetPath ?? null,
        bytes: entry.bytes ?? null,
        duration_ms: entry.durationMs ?? null,
        result: entry.result,
        detail: entry.detail === undefined ? null : JSON.stringify(entry.detail),
      })
      .execute();
  }

  async list(
    filter: { offset?: number; limit?: number; kind?: string; actor?: string; since?: string } = {},
  ): Promise<(AuditEntry & { at: string })[]> {
    const { offset, limit } = pageOf(filter);
    let q = this.db.selectFrom('audit_log').selectAll();
    if (filter.kind) q = q.where('kind', '=', filter.kind);
    if (filter.actor) q = q.where('actor', '=', filter.actor);
    if (filter.since) q = q.where('at', '>=', filter.since);
    const rows = await q.orderBy('id', 'desc').offset(offset).limit(limit).execute();
    return rows.map((r) => ({
      at: r.at,
      kind: r.kind,
      actor: r.actor,
      ...(r.protocol === null ? {} : { protocol: r.protocol }),
      ...(r.remote === null ? {} : { remote: r.remote }),
      ...(r.path === null ? {} : { path: r.path }),
      ...(r.target_path === null ? {} : { targetPath: r.target_path }),
      ...(r.bytes === null ? {} : { bytes: Number(r.bytes) }),
      ...(r.duration_ms === null ? {} : { durationMs: r.duration_ms }),
      result: r.result,
      ...(r.detail === null ? {} : { detail: JSON.parse(r.detail) as Record<string, unknown> }),
    }));
  }
}
