import type { AuditLog } from '../accounts/types.js';
import { StorageError } from '../storage/errors.js';
import type { SessionEvent } from './types.js';

/**
 * One SessionEvent per operation, success or failure, to every subscriber. A subscriber that
 * throws (or whose promise rejects) is reported to `onError` and never disturbs the operation
 * or the other subscribers.
 */
export class EventBus {
  private readonly listeners = new Set<(event: SessionEvent) => void | Promise<void>>();

  constructor(private readonly onError: (err: unknown) => void = () => {}) {}

  subscribe(listener: (event: SessionEvent) => void | Promise<void>): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(event: SessionEvent): void {
    for (const l of this.listeners) {
      try {
        const r = l(event);
        if (r && typeof (r as Promise<void>).catch === 'function') (r as Promise<void>).catch(this.onError);
      } catch (err) {
        this.onError(err);
      }
    }
  }
}

/** `ok`, or the StorageError code (anything else: `Error`), for an event's `result`. */
export function resultOf(err: unknown): string {
  if (err === undefined) return 'ok';
  if (err instanceof StorageError) return err.code;
  if ((err as { name?: string })?.name === 'AbortError') return 'Aborted';
  return 'Error';
}

/** The kinds the audit log keeps (not list, stat or set-times: too many, too little to say). */
export const AUDITED: ReadonlySet<SessionEvent['kind']> = new Set([
  'login',
  'login-failed',
  'logout',
  'upload',
  'download',
  'delete',
  'rename',
  'mkdir',
  'rmdir',
  'copy',
]);

/** The audit log's subscriber: one audit entry per audited event. */
export function auditSubscriber(audit: Pick<AuditLog, 'record'>): (event: SessionEvent) => Promise<void> {
  return async (event) => {
    if (!AUDITED.has(event.kind)) return;
    await audit.record({
      kind: event.kind,
      actor: event.username,
      protocol: event.protocol,
      remote: event.remote,
      path: event.path,
      targetPath: event.targetPath,
      bytes: event.bytes,
      durationMs: event.durationMs,
      result: event.result,
      detail:
        event.reason || event.sessionId ? { reason: event.reason, session: event.sessionId } : undefined,
    });
  };
}
