import type { z } from 'zod';
import { StorageError } from '../storage/errors.js';
import type { Actor, Page } from './types.js';

/**
 * Validate `input` with a zod schema of model.ts; a failure is one InvalidArgument whose message
 * names every bad field (`password: at least 8 characters`). Values are never echoed: a bad
 * password or secret must not reach an error message.
 */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown, what: string): z.output<S> {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  const detail = r.error.issues
    .map((i) => `${i.path.map(String).join('.') || what}: ${i.message}`)
    .join('; ');
  throw new StorageError('InvalidArgument', `invalid ${what}: ${detail}`, { cause: r.error });
}

/**
 * A patch as given: `null` clears an optional field, an absent key changes nothing. Zod's
 * `.partial()` still fills defaults for absent keys, so after parsing only the keys present in the
 * raw patch are kept (else `{password}` would reset `groups` to `[]`).
 */
export function parsePatch<S extends z.ZodType>(
  schema: S,
  patch: unknown,
  what: string,
): { set: Record<string, unknown>; cleared: string[] } {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch))
    throw new StorageError('InvalidArgument', `invalid ${what}: expected an object`);
  const raw = patch as Record<string, unknown>;
  const cleared = Object.keys(raw).filter((k) => raw[k] === null);
  const rest = Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== null && v !== undefined));
  const parsed = parseInput(schema, rest, what) as Record<string, unknown>;
  const set = Object.fromEntries(Object.entries(parsed).filter(([k]) => k in rest));
  return { set, cleared };
}

/** Apply a parsed patch to a settings object (shallow: a nested object is replaced whole). */
export function applyPatch<T extends Record<string, unknown>>(
  current: T,
  patch: { set: Record<string, unknown>; cleared: string[] },
): Record<string, unknown> {
  const next: Record<string, unknown> = { ...current, ...patch.set };
  for (const k of patch.cleared) delete next[k];
  return next;
}

/**
 * What each role may change: `admin` everything, `manager` users, groups and mounts (and their
 * users' API keys), `viewer` nothing. Reading is open to every role; secrets are never readable.
 */
export type Area = 'users' | 'groups' | 'mounts' | 'connections' | 'admins' | 'apikeys' | 'defender';
const managerAreas: ReadonlySet<Area> = new Set(['users', 'groups', 'mounts']);

export function requireRole(actor: Actor, area: Area, action: string): void {
  if (actor.role === 'admin') return;
  if (actor.role === 'manager' && managerAreas.has(area)) return;
  throw new StorageError(
    'PermissionDenied',
    `${actor.kind === 'admin' ? `admin ${actor.name}` : actor.name} (role ${actor.role}) may not ${action}`,
  );
}

/** `Page` → offset/limit (default 100, at most 1000). */
export function pageOf(page: Page | undefined): { offset: number; limit: number } {
  const offset = Math.max(0, Math.trunc(page?.offset ?? 0));
  const limit = Math.min(1000, Math.max(1, Math.trunc(page?.limit ?? 100)));
  return { offset, limit };
}

/** Whether a database error is a unique/primary-key violation (SQLite or PostgreSQL). */
export function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  return (
    e?.code === '23505' ||
    e?.code === 'SQLITE_CONSTRAINT_PRIMARYKEY' ||
    e?.code === 'SQLITE_CONSTRAINT_UNIQUE'
  );
}

/** How the audit log names an actor: `admin:NAME`, `cli`, `system`. */
export function actorName(actor: Actor): string {
  return actor.kind === 'admin' ? `admin:${actor.name}` : actor.name;
}

/**
 * A validated ISO-8601 time as the store keeps it (`toISOString`: UTC, milliseconds), so that
 * times compare as text: `…00Z` and `…00.500Z` would not.
 */
export function storedTime(iso: string): string {
  return new Date(iso).toISOString();
}
