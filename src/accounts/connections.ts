import type { Kysely } from 'kysely';
import { z } from 'zod';
import { nowIso } from '../db/database.js';
import type { ConnectionsTable, Database } from '../db/schema.js';
import { connectionFromUrl, parseConnection, type S3Connection } from '../s3/connection.js';
import { parseS3Url } from '../s3/url.js';
import { StorageError } from '../storage/errors.js';
import { type AccountsContext, parseStored, recordChange } from './context.js';
import { listByName } from './list-by-name.js';
import {
  type ConnectionInput,
  type ConnectionView,
  connectionInputSchema,
  connectionPatchSchema,
  connectionSecretFields,
  type StorageTarget,
} from './model.js';
import type { Actor, ConnectionPatch, ConnectionService, Page } from './types.js';
import { fieldsOf } from './users.js';
import { isUniqueViolation, parseInput, parsePatch, requireRole } from './validation.js';

/** The `settings` column: everything but the secrets, which are sealed into `secrets`. */
const storedSchema = z.object({
  showPartialUploads: z.boolean(),
  s3: z.record(z.string(), z.unknown()),
  /** Names (never values) of the sealed secrets, so a view needs no decryption. */
  secretsSet: z.array(z.enum(connectionSecretFields)).default([]),
});
type Secrets = Partial<Record<(typeof connectionSecretFields)[number], string>>;

/** URL-given fields: a patch with a new `url` replaces these (keys only if the URL has keys). */
const locationFields = ['bucket', 'prefix', 'endpoint', 'region'] as const;

/**
 * Named S3 connections. The whole connection is validated by the one S3 schema
 * (src/s3/connection.ts); the fields of `connectionSecretFields` are sealed with the server's
 * key (secret-box.ts, bound to the connection's name) and exist in clear only in `resolve`.
 */
export class StoreConnectionService implements ConnectionService {
  constructor(private readonly ctx: AccountsContext) {}

  private get db(): Kysely<Database> {
    return this.ctx.db;
  }

  async create(input: ConnectionInput, actor: Actor): Promise<ConnectionView> {
    requireRole(actor, 'connections', 'create connections');
    const c = parseInput(connectionInputSchema, input, 'connection');
    const conn = build(c.url, given(c.settings, (input as { settings?: unknown }).settings));
    const now = nowIso();
    try {
      await this.db
        .insertInto('connections')
        .values({
          name: c.name,
          ...this.#columns(c.name, conn, c.showPartialUploads),
          created_at: now,
          updated_at: now,
        })
        .execute();
    } catch (err) {
      if (isUniqueViolation(err))
        throw new StorageError('AlreadyExists', `name: a connection named ${c.name} already exists`);
      throw err;
    }
    await recordChange(this.ctx, actor, 'connections', 'create', c.name, fieldsOf(input));
    return this.get(c.name);
  }

  async get(name: string): Promise<ConnectionView> {
    return this.#view(await this.#row(name));
  }

  async list(page?: Page): Promise<ConnectionView[]> {
    const rows = await listByName(this.db, 'connections', page);
    return rows.map((r) => this.#view(r));
  }

  async update(name: string, patch: ConnectionPatch, actor: Actor): Promise<ConnectionView> {
    requireRole(actor, 'connections', 'change connections');
    const raw = rawSettings(patch);
    const p = parsePatch(
      connectionPatchSchema,
      {
        ...(patch as object),
        settings: Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== null)),
      },
      'connection',
    );
    const row = await this.#row(name);
    const stored = parseStored(storedSchema, row.settings, `connection ${name}`);
    const current: Record<string, unknown> = { ...stored.s3, ...this.#secrets(row) };
    const settingsPatch = given(p.set.settings as Record<string, unknown>, raw);
    const next: Record<string, unknown> = { ...current, ...settingsPatch };
    for (const [k, v] of Object.entries(raw)) if (v === null) delete next[k];
    const url = p.set.url as string | undefined;
    if (url !== undefined) {
      for (const f of locationFields) if (!(settingsPatch && f in settingsPatch)) delete next[f];
      if (urlHasKeys(url)) for (const f of ['accessKeyId', 'secretAccessKey', 'sessionToken']) delete next[f];
    }
    const conn = build(url, next);
    const showPartialUploads = (p.set.showPartialUploads as boolean | undefined) ?? stored.showPartialUploads;
    await this.db
      .updateTable('connections')
      .set({ ...this.#columns(name, conn, showPartialUploads), updated_at: nowIso() })
      .where('name', '=', name)
      .execute();
    await recordChange(this.ctx, actor, 'connections', 'update', name, patchFields(patch));
    return this.get(name);
  }

  /** Conflict while a user's or group's home, a mount, or the server's default storage uses it. */
  async remove(name: string, actor: Actor): Promise<void> {
    requireRole(actor, 'connections', 'remove connections');
    await this.#row(name);
    const users = await usersOf(this.db, 'users', name);
    const groups = await usersOf(this.db, 'groups', name);
    const mounts = (
      await this.db.selectFrom('mounts').selectAll().where('settings', 'like', `%${name}%`).execute()
    )
      .filter((m) => targetUses((JSON.parse(m.settings) as { target?: StorageTarget }).target, name))
      .map((m) => `mount ${m.path} of ${m.owner_kind} ${m.owner_name}`);
    const users_ = [
      ...(targetUses(this.ctx.defaultHome, name) ? ["the server's default storage"] : []),
      ...users.map((u) => `user ${u}`),
      ...groups.map((g) => `group ${g}`),
      ...mounts,
      ...(await jobsOf(this.db, name)),
    ];
    if (users_.length > 0) {
      const shown =
        users_.slice(0, 5).join(', ') + (users_.length > 5 ? `, … (${users_.length} in all)` : '');
      throw new StorageError('Conflict', `connection ${name} is in use by ${shown}`);
    }
    await this.db.deleteFrom('connections').where('name', '=', name).execute();
    await recordChange(this.ctx, actor, 'connections', 'remove', name);
  }

  async resolve(name: string): Promise<S3Connection & { showPartialUploads: boolean }> {
    const row = await this.#row(name);
    const stored = parseStored(storedSchema, row.settings, `connection ${name}`);
    return {
      ...parseConnection({ ...stored.s3, ...this.#secrets(row) }),
      showPartialUploads: stored.showPartialUploads,
    };
  }

  async #row(name: string): Promise<ConnectionsTable> {
    const row = await this.db
      .selectFrom('connections')
      .selectAll()
      .where('name', '=', name)
      .executeTakeFirst();
    if (!row) throw new StorageError('NotFound', `no connection named ${name}`);
    return row;
  }

  #columns(
    name: string,
    conn: S3Connection,
    showPartialUploads: boolean,
  ): Pick<ConnectionsTable, 'settings' | 'secrets'> {
    const s3: Record<string, unknown> = { ...conn };
    const secrets: Secrets = {};
    for (const f of connectionSecretFields) {
      if (typeof s3[f] === 'string' && s3[f] !== '') secrets[f] = s3[f] as string;
      delete s3[f];
    }
    return {
      settings: JSON.stringify({ showPartialUploads, s3, secretsSet: Object.keys(secrets) }),
      secrets:
        Object.keys(secrets).length === 0
          ? null
          : this.ctx.box.seal(JSON.stringify(secrets), `connection:${name}`),
    };
  }

  #secrets(row: ConnectionsTable): Secrets {
    if (row.secrets === null) return {};
    return JSON.parse(this.ctx.box.open(row.secrets, `connection:${row.name}`)) as Secrets;
  }

  #view(row: ConnectionsTable): ConnectionView {
    const stored = parseStored(storedSchema, row.settings, `connection ${row.name}`);
    return {
      name: row.name,
      showPartialUploads: stored.showPartialUploads,
      settings: stored.s3,
      secretsSet: stored.secretsSet,
      createdAt: row.created_at,
      updatedAt: row.updated_at,
    };
  }
}

/**
 * The connection from a URL and/or settings, validated whole. Errors name the field as the API
 * knows it (`settings.bucket`, `url`) and never echo the URL, which may carry a secret key.
 */
function build(url: string | undefined, settings: Record<string, unknown>): S3Connection {
  try {
    // No environment fallback for the endpoint: a stored connection means the same on every node.
    return url === undefined ? parseConnection(settings) : connectionFromUrl(url, settings, {});
  } catch (err) {
    if (!StorageError.is(err, 'InvalidArgument')) throw err;
    const cause = err.cause as { issues?: { path: PropertyKey[]; message: string }[] } | undefined;
    if (cause?.issues) {
      const detail = cause.issues
        .map((i) => `settings.${i.path.map(String).join('.')}: ${i.message}`)
        .join('; ');
      throw new StorageError('InvalidArgument', `invalid connection: ${detail}`);
    }
    const message = url === undefined ? err.message : err.message.split(url).join('(the URL)');
    throw new StorageError('InvalidArgument', `invalid connection: url: ${message}`);
  }
}

/**
 * The parsed settings the caller actually gave. model.ts's settings schema adds no defaults, but
 * a caller may pass an already parsed object: a filled-in `prefix: ''` would override the URL's
 * prefix on create and reset the stored one on update.
 */
function given(parsed: Record<string, unknown> | undefined, raw: unknown): Record<string, unknown> {
  const keys = raw && typeof raw === 'object' ? Object.keys(raw) : [];
  return Object.fromEntries(
    Object.entries(parsed ?? {}).filter(([k, v]) => keys.includes(k) && v !== undefined),
  );
}

function rawSettings(patch: unknown): Record<string, unknown> {
  const s = (patch as { settings?: unknown } | null)?.settings;
  return s && typeof s === 'object' && !Array.isArray(s) ? (s as Record<string, unknown>) : {};
}

function urlHasKeys(url: string): boolean {
  try {
    return parseS3Url(url).accessKeyId !== undefined;
  } catch {
    return false;
  }
}

function targetUses(target: StorageTarget | undefined, name: string): boolean {
  return target?.type === 's3' && target.connection === name;
}

/** Names of users/groups whose home is on the connection (a LIKE narrows, JSON decides). */
async function usersOf(
  db: Kysely<Database>,
  table: 'users' | 'groups',
  connection: string,
): Promise<string[]> {
  const rows =
    table === 'users'
      ? (
          await db
            .selectFrom('users')
            .select(['username', 'settings'])
            .where('settings', 'like', `%${connection}%`)
            .execute()
        ).map((r) => ({ id: r.username, settings: r.settings }))
      : (
          await db
            .selectFrom('groups')
            .select(['name', 'settings'])
            .where('settings', 'like', `%${connection}%`)
            .execute()
        ).map((r) => ({ id: r.name, settings: r.settings }));
  return rows
    .filter((r) => targetUses((JSON.parse(r.settings) as { home?: StorageTarget }).home, connection))
    .map((r) => r.id)
    .sort();
}

/** Field names a connection patch touched: `url`, `settings.secretAccessKey` (never values). */
function patchFields(patch: unknown): string[] {
  const p = (patch ?? {}) as Record<string, unknown>;
  const nested =
    p.settings && typeof p.settings === 'object' ? Object.keys(p.settings).map((k) => `settings.${k}`) : [];
  return [...Object.keys(p).filter((k) => k !== 'settings'), ...nested].sort();
}

/**
 * Sync jobs reading or writing `NAME:prefix` (src/jobs/locations.ts): removing the connection
 * would fail their every run, or point them at another bucket if a connection of that name came back.
 */
async function jobsOf(db: Kysely<Database>, name: string): Promise<string[]> {
  const rows = await db
    .selectFrom('sync_jobs')
    .select(['name', 'source', 'destination'])
    .where((eb) => eb.or([eb('source', 'like', `${name}:%`), eb('destination', 'like', `${name}:%`)]))
    .execute();
  return rows
    .filter((j) => j.source.startsWith(`${name}:`) || j.destination.startsWith(`${name}:`))
    .map((j) => `job ${j.name}`);
}
