import { DEFAULT_CONCURRENCY, executeActions, plannedSummary } from './execute.js';
import { type OneWayPlan, planSync } from './plan.js';
import type { RunSync, SyncEvent, SyncOptions, SyncSide, SyncSummary } from './types.js';

export { DEFAULT_CONCURRENCY, type ExecuteOptions, executeActions } from './execute.js';
export { type OneWayPlan, planSync } from './plan.js';
export * from './types.js';

/**
 * One-way sync: plan (listings only, plan.ts) then execute (execute.ts). The plan's refusals (a
 * folder where a file must go) are reported as failed events. With `dryRun` nothing is executed
 * and the summary counts what the plan would do.
 */
export const runSync: RunSync = async (src, dst, options, onEvent = () => {}) => {
  const started = performance.now();
  const plan = await planSync(src, dst, options);
  const summary = await executePlan(src, dst, plan, options, onEvent);
  summary.ms = Math.round(performance.now() - started);
  return { plan, summary };
};

/** The second half of runSync, for callers that show the plan first (`ferry sync`). */
export async function executePlan(
  src: SyncSide,
  dst: SyncSide,
  plan: OneWayPlan,
  options: SyncOptions,
  onEvent: (event: SyncEvent) => void = () => {},
): Promise<SyncSummary> {
  const started = performance.now();
  for (const f of plan.failures) onEvent({ kind: 'failed', action: f.action, error: f.error });
  const summary = options.dryRun
    ? plannedSummary(plan.actions)
    : await executeActions(
        src,
        dst,
        plan.actions,
        {
          concurrency: options.concurrency ?? DEFAULT_CONCURRENCY,
          signal: options.signal,
          // The plan listed the destination (or, append-only and blind, every copy is create-only).
          targetsListed: true,
          createOnly: options.appendOnly,
          // A copy the plan refused is a failure: a mirror must not delete after it either.
          failedBefore: plan.failures.length,
        },
        onEvent,
      );
  summary.skipped += plan.unchanged + plan.kept;
  summary.failed += plan.failures.length;
  summary.ms = Math.round(performance.now() - started);
  return summary;
}
