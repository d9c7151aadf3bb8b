import type { DeliveredEvent } from '../model.js';

/** What an action gets: the delivery's stable id, the rule's name and the event. */
export interface ActionContext {
  deliveryId: string;
  rule: string;
  event: DeliveredEvent;
  signal?: AbortSignal;
}

/**
 * `{kind}`, `{username}`, `{path}`, `{targetPath}`, `{name}` (last segment of the file's path),
 * `{bytes}`, `{result}`, `{protocol}`, `{remote}`, `{at}`, `{date}` (YYYY-MM-DD of `at`), `{rule}`,
 * `{id}` (the delivery id) replaced by their values; an unknown `{word}` is left as it is.
 */
export function fill(template: string, ctx: ActionContext): string {
  const e = ctx.event;
  const file = e.targetPath ?? e.path ?? '';
  const values: Record<string, string> = {
    kind: e.kind,
    username: e.username,
    path: e.path ?? '',
    targetPath: e.targetPath ?? '',
    name: file.slice(file.lastIndexOf('/') + 1),
    bytes: e.bytes === undefined ? '' : String(e.bytes),
    result: e.result,
    protocol: e.protocol,
    remote: e.remote,
    at: e.at,
    date: e.at.slice(0, 10),
    rule: ctx.rule,
    id: ctx.deliveryId,
  };
  return template.replace(/\{([A-Za-z]+)\}/g, (m, k: string) => values[k] ?? m);
}

/** The event's fields as environment variables (`FERRY_EVENT_KIND` …) and as JSON. */
export function eventEnv(ctx: ActionContext): Record<string, string> {
  const e = ctx.event;
  const env: Record<string, string> = {
    FERRY_DELIVERY_ID: ctx.deliveryId,
    FERRY_RULE: ctx.rule,
    FERRY_EVENT_KIND: e.kind,
    FERRY_EVENT_USERNAME: e.username,
    FERRY_EVENT_PROTOCOL: e.protocol,
    FERRY_EVENT_REMOTE: e.remote,
    FERRY_EVENT_RESULT: e.result,
    FERRY_EVENT_AT: e.at,
    FERRY_EVENT_DURATION_MS: String(e.durationMs),
    FERRY_EVENT_JSON: JSON.stringify(e),
  };
  if (e.path !== undefined) env.FERRY_EVENT_PATH = e.path;
  if (e.targetPath !== undefined) env.FERRY_EVENT_TARGET_PATH = e.targetPath;
  if (e.bytes !== undefined) env.FERRY_EVENT_BYTES = String(e.bytes);
  if (e.sessionId !== undefined) env.FERRY_EVENT_SESSION_ID = e.sessionId;
  return env;
}

/** An action failure that retrying cannot fix (the delivery goes dead at once). */
export class PermanentError extends Error {}
