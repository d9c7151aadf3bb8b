import type { Selectable } from 'kysely';
import { parseStored } from '../accounts/context.js';
import type { Actor } from '../accounts/types.js';
import type { SyncJobRunsTable, SyncJobsTable } from '../db/schema.js';
import { StorageError } from '../storage/errors.js';
import { cronOf, type JobView, jobSyncOptionsSchema, type RunStatus, type RunView } from './model.js';

/** Rows of the job tables → the views the API and CLI show (store.ts). */

export function requireAdmin(actor: Actor, action: string): void {
  if (actor.role === 'admin') return;
  throw new StorageError(
    'PermissionDenied',
    `${actor.kind === 'admin' ? `admin ${actor.name}` : actor.name} (role ${actor.role}) may not ${action}`,
  );
}

export function view(row: SyncJobsTable): JobView {
  const options = parseStored(jobSyncOptionsSchema, row.options, `job ${row.name}`);
  const enabled = row.enabled === 1;
  let nextRun: string | undefined;
  if (enabled && row.schedule) nextRun = cronOf(row.schedule).nextRun()?.toISOString();
  return {
    name: row.name,
    source: row.source,
    destination: row.destination,
    options,
    ...(row.schedule !== null && { schedule: row.schedule }),
    enabled,
    ...(row.description !== null && { description: row.description }),
    ...(nextRun && { nextRun }),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export function runView(r: Selectable<SyncJobRunsTable>): RunView {
  const j = <T>(v: string | null): T | undefined => (v === null ? undefined : (JSON.parse(v) as T));
  const out: RunView = {
    id: r.id,
    job: r.job,
    node: r.node,
    trigger: r.trigger as RunView['trigger'],
    status: r.status as RunStatus,
    startedAt: r.started_at,
    heartbeatAt: r.heartbeat_at,
    bytes: Number(r.bytes),
  };
  if (r.scheduled_for !== null) out.scheduledFor = r.scheduled_for;
  if (r.actor !== null) out.actor = r.actor;
  if (r.ended_at !== null) out.endedAt = r.ended_at;
  if (r.connection_test !== null) out.connectionTest = j(r.connection_test);
  if (r.summary !== null) out.summary = j(r.summary);
  if (r.error !== null) out.error = r.error;
  if (r.errors !== null) out.errors = j(r.errors);
  if (r.plan_summary !== null) out.planSummary = j(r.plan_summary);
  if (r.plan !== null) out.plan = j(r.plan);
  return out;
}
