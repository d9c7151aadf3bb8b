import { randomUUID } from 'node:crypto';
import { type Kysely, type RawBuilder, type Selectable, sql } from 'kysely';
import { listByName } from '../accounts/list-by-name.js';
import type { Accounts, Actor, Page } from '../accounts/types.js';
import { actorName, isUniqueViolation, pageOf, parseInput, parsePatch } from '../accounts/validation.js';
import { type Dialect, dbNowIso, nowIso } from '../db/database.js';
import type { Database, SyncJobRunsTable, SyncJobsTable } from '../db/schema.js';
import { StorageError } from '../storage/errors.js';
import { canonicalLocation, refuseOverlap } from './locations.js';
import {
  type JobInput,
  type JobPatch,
  type JobView,
  jobInputSchema,
  jobPatchSchema,
  type RunStatus,
  type RunView,
} from './model.js';
import { requireAdmin, runView, view } from './rows.js';

/**
 * Sync jobs and their runs in the store. Every job change is audited (`kind: admin`,
 * `path: jobs/NAME`, field names only) and bumps the `jobs` topic so every node's scheduler
 * reloads. Only role admin changes jobs: a job reads and writes any connection or home.
 */
export class JobStore {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly accounts: Pick<Accounts, 'connections' | 'users' | 'audit' | 'changes'>,
    /** This node's clock (ms), for the times a run records; tests skew it. Leases never use it. */
    private readonly clock: () => number = Date.now,
    private readonly dialect: Dialect = 'sqlite',
  ) {}

  /**
   * The database's clock as an ISO-8601 text (the format of toISOString): a run's heartbeat is
   * written and judged with it, so nodes whose own clocks disagree agree on every lease.
   */
  #dbNow(): RawBuilder<string> {
    return dbNowIso(this.dialect);
  }

  #now(): string {
    return new Date(this.clock()).toISOString();
  }

  async create(input: JobInput, actor: Actor): Promise<JobView> {
    requireAdmin(actor, 'create jobs');
    const j = parseInput(jobInputSchema, input, 'job');
    const source = await canonicalLocation(j.source, 'source', this.accounts);
    const destination = await canonicalLocation(j.destination, 'destination', this.accounts);
    await refuseOverlap(source, destination, this.accounts);
    const now = nowIso();
    try {
      await this.db
        .insertInto('sync_jobs')
        .values({ name: j.name, ...columns(j, source, destination), created_at: now, updated_at: now })
        .execute();
    } catch (err) {
      if (isUniqueViolation(err))
        throw new StorageError('AlreadyExists', `name: a job named ${j.name} exists`);
      throw err;
    }
    await this.#changed(actor, 'create', j.name, Object.keys(input as object));
    return this.get(j.name);
  }

  async get(name: string): Promise<JobView> {
    return view(await this.#row(name));
  }

  async list(page?: Page): Promise<JobView[]> {
    return (await listByName(this.db, 'sync_jobs', page)).map(view);
  }

  /** Every enabled job with a schedule (the scheduler's list). */
  async scheduled(): Promise<JobView[]> {
    const rows = await this.db
      .selectFrom('sync_jobs')
      .selectAll()
      .where('enabled', '=', 1)
      .where('schedule', 'is not', null)
      .orderBy('name')
      .execute();
    return rows.map(view);
  }

  async update(name: string, patch: JobPatch, actor: Actor): Promise<JobView> {
    requireAdmin(actor, 'change jobs');
    const p = parsePatch(jobPatchSchema, patch, 'job');
    const current = await this.get(name);
    const next: Record<string, unknown> = {
      source: current.source,
      destination: current.destination,
      options: current.options,
      enabled: current.enabled,
      ...(current.schedule !== undefined && { schedule: current.schedule }),
      ...(current.description !== undefined && { description: current.description }),
      ...p.set,
    };
    for (const k of p.cleared) delete next[k];
    const j = parseInput(jobInputSchema.omit({ name: true }), next, 'job');
    const source = 'source' in p.set ? await canonicalLocation(j.source, 'source', this.accounts) : j.source;
    const destination =
      'destination' in p.set
        ? await canonicalLocation(j.destination, 'destination', this.accounts)
        : j.destination;
    if ('source' in p.set || 'destination' in p.set) await refuseOverlap(source, destination, this.accounts);
    await this.db
      .updateTable('sync_jobs')
      .set({ ...columns(j, source, destination), updated_at: nowIso() })
      .where('name', '=', name)
      .execute();
    await this.#changed(actor, 'update', name, Object.keys(patch as object));
    return this.get(name);
  }

  /**
   * Removes the job and its run history (the runs go by the foreign key's cascade); refused
   * (Conflict) while it runs. One statement, so no run can start between the check and the
   * delete; a run claimed after it fails the foreign key and is not run (claimTick, startTriggered).
   */
  async remove(name: string, actor: Actor): Promise<void> {
    requireAdmin(actor, 'remove jobs');
    const r = await this.db
      .deleteFrom('sync_jobs')
      .where('name', '=', name)
      .where(({ not, exists, selectFrom }) =>
        not(
          exists(
            selectFrom('sync_job_runs').select('id').where('job', '=', name).where('status', '=', 'running'),
          ),
        ),
      )
      .executeTakeFirst();
    if (Number(r.numDeletedRows) === 0) {
      await this.#row(name);
      const running = await this.#running(name);
      throw new StorageError(
        'Conflict',
        `job ${name} is running${running ? ` (run ${running.id})` : ''}; remove it when it ends`,
      );
    }
    await this.#changed(actor, 'remove', name);
  }

  // ---- runs ----

  /**
   * Claim the tick `scheduledFor` of a job for `node`: insert its run row. Of several nodes, the
   * one whose insert passes UNIQUE (job, scheduled_for) runs it (`claimed`); the others get
   * `lost`. When the job is still running an earlier run (the partial unique index on running
   * runs refuses a second), the tick is recorded as `skipped` by whichever node gets there first.
   */
  async claimTick(
    job: string,
    scheduledFor: string,
    node: string,
  ): Promise<{ outcome: 'claimed' | 'lost' | 'skipped'; run?: RunView }> {
    const id = randomUUID();
    const now = this.#now();
    const row = {
      id,
      job,
      node,
      trigger: 'schedule',
      scheduled_for: scheduledFor,
      actor: null,
      status: 'running',
      started_at: now,
      heartbeat_at: this.#dbNow(),
    };
    try {
      await this.db.insertInto('sync_job_runs').values(row).execute();
      return { outcome: 'claimed', run: await this.getRun(id) };
    } catch (err) {
      // The job was removed since the scheduler listed it: nothing to run.
      if (isForeignKeyViolation(err)) return { outcome: 'lost' };
      if (!isUniqueViolation(err)) throw err;
    }
    const taken = await this.db
      .selectFrom('sync_job_runs')
      .select('id')
      .where('job', '=', job)
      .where('scheduled_for', '=', scheduledFor)
      .executeTakeFirst();
    if (taken) return { outcome: 'lost' };
    const running = await this.#running(job);
    try {
      await this.db
        .insertInto('sync_job_runs')
        .values({
          ...row,
          status: 'skipped',
          ended_at: now,
          error: running
            ? `the run ${running.id} (started ${running.started_at} on ${running.node}) was still running`
            : 'another run was still running',
        })
        .execute();
    } catch (err) {
      if (isUniqueViolation(err)) return { outcome: 'lost' };
      throw err;
    }
    return { outcome: 'skipped', run: await this.getRun(id) };
  }

  /** A run triggered now (API, CLI): Conflict when the job is already running. */
  async startTriggered(job: string, node: string, actor: Actor): Promise<RunView> {
    // A run writes and deletes wherever the job points (any connection or home): role admin only.
    requireAdmin(actor, 'run jobs');
    await this.#row(job);
    const id = randomUUID();
    const now = this.#now();
    try {
      await this.db
        .insertInto('sync_job_runs')
        .values({
          id,
          job,
          node,
          trigger: 'api',
          scheduled_for: null,
          actor: actorName(actor),
          status: 'running',
          started_at: now,
          heartbeat_at: this.#dbNow(),
        })
        .execute();
    } catch (err) {
      if (isForeignKeyViolation(err)) throw new StorageError('NotFound', `no job named ${job}`);
      if (!isUniqueViolation(err)) throw err;
      const running = await this.#running(job);
      throw new StorageError(
        'Conflict',
        `job ${job} is already running${running ? ` (run ${running.id}, started ${running.started_at} on ${running.node})` : ''}`,
      );
    }
    return this.getRun(id);
  }

  /**
   * Renew a running run's lease (stamped with the database's clock); false when it is no longer
   * running (another node expired it). Throws when the store cannot be reached.
   */
  async heartbeat(id: string): Promise<boolean> {
    const r = await this.db
      .updateTable('sync_job_runs')
      .set({ heartbeat_at: this.#dbNow() })
      .where('id', '=', id)
      .where('status', '=', 'running')
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  /** Record a run's end (only a run still running: an expired one stays as the reaper left it). */
  async finish(
    id: string,
    end: {
      status: Exclude<RunStatus, 'running'>;
      connectionTest?: RunView['connectionTest'];
      summary?: RunView['summary'];
      bytes?: number;
      error?: string;
      errors?: RunView['errors'];
      planSummary?: RunView['planSummary'];
      plan?: RunView['plan'];
    },
  ): Promise<RunView> {
    const json = (v: unknown) => (v === undefined ? null : JSON.stringify(v));
    await this.db
      .updateTable('sync_job_runs')
      .set({
        status: end.status,
        ended_at: this.#now(),
        connection_test: json(end.connectionTest),
        summary: json(end.summary),
        bytes: end.bytes ?? 0,
        error: end.error ?? null,
        errors: end.errors?.length ? json(end.errors) : null,
        plan_summary: json(end.planSummary),
        plan: json(end.plan),
      })
      .where('id', '=', id)
      .where('status', '=', 'running')
      .execute();
    return this.getRun(id);
  }

  /**
   * Fail every running run whose heartbeat is older than `leaseMs`: its node died or lost the
   * store. Any node may do this; the update is one statement, so two nodes reaping at once fail
   * each run once. Returns the runs failed.
   */
  async expireLeases(leaseMs: number): Promise<RunView[]> {
    // The database's clock, not this node's: a node whose clock runs ahead fails no live run.
    const { rows } = await sql<{ now: string }>`select ${this.#dbNow()} as now`.execute(this.db);
    const cutoff = new Date(Date.parse(rows[0]?.now as string) - leaseMs).toISOString();
    const stale = await this.db
      .selectFrom('sync_job_runs')
      .selectAll()
      .where('status', '=', 'running')
      .where('heartbeat_at', '<', cutoff)
      .execute();
    const out: RunView[] = [];
    for (const r of stale) {
      const u = await this.db
        .updateTable('sync_job_runs')
        .set({
          status: 'failed',
          ended_at: this.#now(),
          error: `the node ${r.node} running it stopped renewing its lease (last heartbeat ${r.heartbeat_at}; lease ${Math.round(leaseMs / 1000)} s)`,
        })
        .where('id', '=', r.id)
        .where('status', '=', 'running')
        .where('heartbeat_at', '<', cutoff)
        .executeTakeFirst();
      if (Number(u.numUpdatedRows) === 1) out.push(await this.getRun(r.id));
    }
    return out;
  }

  async getRun(id: string): Promise<RunView> {
    const row = await this.db.selectFrom('sync_job_runs').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) throw new StorageError('NotFound', `no job run with id ${id}`);
    return runView(row);
  }

  /** A job's runs, newest first. */
  async runs(job: string, page?: Page): Promise<RunView[]> {
    await this.#row(job);
    const { offset, limit } = pageOf(page);
    const rows = await this.db
      .selectFrom('sync_job_runs')
      .selectAll()
      .where('job', '=', job)
      .orderBy('started_at', 'desc')
      .orderBy('id')
      .offset(offset)
      .limit(limit)
      .execute();
    return rows.map(runView);
  }

  async #running(job: string): Promise<Selectable<SyncJobRunsTable> | undefined> {
    return this.db
      .selectFrom('sync_job_runs')
      .selectAll()
      .where('job', '=', job)
      .where('status', '=', 'running')
      .executeTakeFirst();
  }

  async #row(name: string): Promise<SyncJobsTable> {
    const row = await this.db.selectFrom('sync_jobs').selectAll().where('name', '=', name).executeTakeFirst();
    if (!row) throw new StorageError('NotFound', `no job named ${name}`);
    return row;
  }

  async #changed(actor: Actor, action: string, name: string, fields?: string[]): Promise<void> {
    await this.accounts.audit.record({
      kind: 'admin',
      actor: actorName(actor),
      ...(actor.remote ? { remote: actor.remote } : {}),
      path: `jobs/${name}`,
      result: 'ok',
      detail: {
        action,
        ...(fields ? { fields } : {}),
        ...(actor.apiKeyId ? { apiKey: actor.apiKeyId } : {}),
      },
    });
    await this.accounts.changes.bump('jobs');
  }
}

/** A row naming a job that is not (or no longer) there. */
function isForeignKeyViolation(err: unknown): boolean {
  const e = err as { code?: string };
  return e?.code === '23503' || e?.code === 'SQLITE_CONSTRAINT_FOREIGNKEY';
}

/** A job's stored columns (but its name and times), from its parsed input and canonical locations. */
function columns(
  j: { options: unknown; schedule?: string; enabled: boolean; description?: string },
  source: string,
  destination: string,
) {
  return {
    source,
    destination,
    options: JSON.stringify(j.options),
    schedule: j.schedule ?? null,
    enabled: j.enabled ? 1 : 0,
    description: j.description ?? null,
  };
}
