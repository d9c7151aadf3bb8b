import { Cron } from 'croner';
import { z } from 'zod';
import { nameSchema, optionalFields } from '../accounts/model.js';

/**
 * Sync jobs (issue 11 part 3), declared once: these zod schemas validate what the admin API and
 * the admin CLI accept, give the OpenAPI document its shapes, and check what the store reads back.
 */

/**
 * A cron schedule, evaluated in UTC: 5 fields (minute hour day month weekday) or 6 with seconds
 * first (`*\/10 * * * * *`: every 10 seconds). Validated by croner, the library that runs it.
 */
export const scheduleSchema = z
  .string()
  .max(200)
  .superRefine((v, ctx) => {
    const problem = cronProblem(v);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

/** Why `pattern` is not a schedule we run, or undefined when it is. */
export function cronProblem(pattern: string): string | undefined {
  try {
    // croner accepts a pattern that never comes (`0 0 30 2 *`, Feb 30): such a job would never run.
    if (!cronOf(pattern).nextRun()) return 'not a cron schedule: it never fires (no such date)';
    return undefined;
  } catch (err) {
    return `not a cron schedule (5 or 6 fields, e.g. "0 3 * * *" or "*/30 * * * * *"): ${(err as Error).message.replace(/^CronPattern: /, '')}`;
  }
}

/** A paused croner instance of `pattern` (UTC), for computing occurrences; it never fires itself. */
export function cronOf(pattern: string): Cron {
  return new Cron(pattern, { paused: true, timezone: 'UTC', mode: '5-or-6-parts' });
}

/**
 * Where a job reads or writes: `CONNECTION:prefix` (a named connection; `s3://bucket/prefix` is
 * accepted and stored as the connection of that bucket), `user:NAME/path` (a user's home), or an
 * absolute folder of the server. Checked against the store when the job is saved (locations.ts).
 */
export const locationSchema = z.string().min(1).max(2000);

/** SyncOptions (src/sync/types.ts) as a job keeps them: everything but the abort signal. */
export const jobSyncOptionsSchema = z.strictObject({
  mode: z.enum(['copy', 'mirror', 'move']).default('copy'),
  compare: z.enum(['size-mtime', 'size', 'checksum']).default('size-mtime'),
  update: z.boolean().optional(),
  appendOnly: z.boolean().optional(),
  maxDelete: z.number().int().min(0).optional(),
  filters: z
    .strictObject({
      include: z.array(z.string().min(1)).optional(),
      exclude: z.array(z.string().min(1)).optional(),
    })
    .optional(),
  concurrency: z.number().int().min(1).max(10_000).optional(),
  dryRun: z.boolean().optional(),
});
export type JobSyncOptions = z.infer<typeof jobSyncOptionsSchema>;

export const jobInputSchema = z.strictObject({
  name: nameSchema,
  source: locationSchema,
  destination: locationSchema,
  options: jobSyncOptionsSchema.default({ mode: 'copy', compare: 'size-mtime' }),
  /** Unset: the job runs only when triggered (API, `ferry job run`). */
  schedule: scheduleSchema.optional(),
  enabled: z.boolean().default(true),
  description: z.string().max(1000).optional(),
});
export type JobInput = z.input<typeof jobInputSchema>;

/** A change to a job: any field but the name, only those sent; `null` clears schedule or description. */
export const jobPatchSchema = optionalFields(jobInputSchema.omit({ name: true }).shape, true);
export type JobPatch = z.input<typeof jobPatchSchema>;

export const jobViewSchema = z.object({
  name: nameSchema,
  source: z.string(),
  destination: z.string(),
  options: jobSyncOptionsSchema,
  schedule: z.string().optional(),
  enabled: z.boolean(),
  description: z.string().optional(),
  /** The next scheduled run (UTC), when enabled and scheduled. */
  nextRun: z.string().optional(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type JobView = z.infer<typeof jobViewSchema>;

export const runStatuses = ['running', 'ok', 'failed', 'refused', 'skipped'] as const;
export type RunStatus = (typeof runStatuses)[number];

/** One planned action as a run keeps it (dry runs keep the first PLAN_LIMIT). */
export const plannedActionSchema = z.object({
  op: z.enum(['copy', 'delete', 'mkdir']),
  path: z.string(),
  to: z.string().optional(),
  reason: z.string().optional(),
  size: z.number().optional(),
});
export type PlannedAction = z.infer<typeof plannedActionSchema>;

export const runSummarySchema = z.object({
  copied: z.number(),
  updated: z.number(),
  deleted: z.number(),
  skipped: z.number(),
  conflicts: z.number(),
  failed: z.number(),
  bytes: z.number(),
  ms: z.number(),
});

export const runViewSchema = z.object({
  id: z.string(),
  job: nameSchema,
  /** The node that ran it. */
  node: z.string(),
  trigger: z.enum(['schedule', 'api']),
  /** The schedule's tick this run is for (schedule runs). */
  scheduledFor: z.string().optional(),
  /** Who triggered it (api runs): `admin:NAME`, `cli`. */
  actor: z.string().optional(),
  status: z.enum(runStatuses),
  startedAt: z.string(),
  /** Last sign of life of the node running it; a running run older than the lease is failed. */
  heartbeatAt: z.string(),
  endedAt: z.string().optional(),
  /** The connection test's outcome (the first step of every run). */
  connectionTest: z.object({ ok: z.boolean(), detail: z.string().optional() }).optional(),
  summary: runSummarySchema.optional(),
  bytes: z.number(),
  /** Why the run failed, was refused or skipped. */
  error: z.string().optional(),
  /** Per-file failures (the first ERROR_LIMIT). */
  errors: z.array(z.object({ path: z.string(), error: z.string() })).optional(),
  /** Counts of the plan by operation and reason, and what it cost to list. */
  planSummary: z.record(z.string(), z.number()).optional(),
  /** Dry runs: the plan's first PLAN_LIMIT actions. */
  plan: z.array(plannedActionSchema).optional(),
});
export type RunView = z.infer<typeof runViewSchema>;

/** Actions of a dry run's plan kept in its run record. */
export const PLAN_LIMIT = 1000;
/** Per-file errors kept in a run record. */
export const ERROR_LIMIT = 100;
