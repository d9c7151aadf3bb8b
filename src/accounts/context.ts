import type { Kysely } from 'kysely';
import type { z } from 'zod';
import type { Database } from '../db/schema.js';
import { StorageError } from '../storage/errors.js';
import { normalizePath } from '../storage/paths.js';
import type { StorageTarget } from './model.js';
import type { SecretBox } from './secret-box.js';
import type { Actor, AuditLog, ChangeFeed } from './types.js';
import { actorName, requireRole } from './validation.js';

/** What every account service shares: the store, the secret box, the audit log, the change feed. */
export interface AccountsContext {
  readonly db: Kysely<Database>;
  readonly box: SecretBox;
  readonly audit: AuditLog;
  readonly changes: ChangeFeed;
  readonly defaultHome: StorageTarget;
}

/**
 * After an admin change: one audit line (`kind: admin`, the actor, `path: entity/name`, field
 * names in `detail`, never values) and a bump of the topic so every node's caches drop it.
 */
export async function recordChange(
  ctx: AccountsContext,
  actor: Actor,
  topic: string,
  action: 'create' | 'update' | 'remove' | 'unban',
  name: string,
  fields?: string[],
): Promise<void> {
  await ctx.audit.record({
    kind: 'admin',
    actor: actorName(actor),
    ...(actor.remote ? { remote: actor.remote } : {}),
    path: `${topic}/${name}`,
    result: 'ok',
    detail: {
      action,
      ...(fields ? { fields } : {}),
      ...(actor.apiKeyId ? { apiKey: actor.apiKeyId } : {}),
    },
  });
  await ctx.changes.bump(topic);
}

/** Parse a JSON settings column with its schema; a bad row is named, not silently used. */
export function parseStored<S extends z.ZodType>(schema: S, json: string, what: string): z.output<S> {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (err) {
    throw new StorageError('Transient', `the stored settings of ${what} are not JSON`, { cause: err });
  }
  const r = schema.safeParse(raw);
  if (!r.success)
    throw new StorageError('Transient', `the stored settings of ${what} are invalid`, { cause: r.error });
  return r.data;
}

/** Refuse a home or mount target on a connection that does not exist (`field` named). */
export async function checkTarget(
  db: Kysely<Database>,
  target: StorageTarget | undefined,
  field: string,
  actor: Actor,
): Promise<void> {
  // A local folder is the server's own disk, as a connection is its S3 credentials: only role
  // admin may hand one to users (a manager could otherwise read any file the server can).
  if (target?.type === 'local') requireRole(actor, 'connections', `use a local folder as ${field}`);
  if (target?.type !== 's3') return;
  try {
    normalizePath(target.prefix.replaceAll('%username%', 'user'));
  } catch (err) {
    throw new StorageError('InvalidArgument', `${field}.prefix: ${(err as Error).message}`);
  }
  const row = await db
    .selectFrom('connections')
    .select('name')
    .where('name', '=', target.connection)
    .executeTakeFirst();
  if (!row)
    throw new StorageError(
      'InvalidArgument',
      `${field}.connection: no connection named ${target.connection}`,
    );
}
