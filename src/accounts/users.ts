import { timingSafeEqual } from 'node:crypto';
import type { Kysely } from 'kysely';
import { nowIso } from '../db/database.js';
import type { Database, UsersTable } from '../db/schema.js';
import { StorageError } from '../storage/errors.js';
import { type AccountsContext, checkTarget, parseStored, recordChange } from './context.js';
import { effectiveUser } from './effective-user.js';
import {
  type UserInput,
  type UserView,
  userInputSchema,
  userPatchSchema,
  userSettingsSchema,
} from './model.js';
import { hashPassword, verifyPassword } from './passwords.js';
import type { Actor, EffectiveUser, Page, UserPatch, UserService } from './types.js';
import {
  applyPatch,
  isUniqueViolation,
  pageOf,
  parseInput,
  parsePatch,
  requireRole,
  storedTime,
} from './validation.js';

const settingKeys = Object.keys(userSettingsSchema.shape);

/** Users: settings as JSON (model.ts), password as a scrypt hash, groups in `user_groups` in order. */
export class StoreUserService implements UserService {
  constructor(private readonly ctx: AccountsContext) {}

  private get db(): Kysely<Database> {
    return this.ctx.db;
  }

  async create(input: UserInput, actor: Actor): Promise<UserView> {
    requireRole(actor, 'users', 'create users');
    const u = parseInput(userInputSchema, input, 'user');
    const settings = pick(u, settingKeys);
    await checkGroups(this.db, u.groups);
    await checkTarget(this.db, u.home, 'home', actor);
    const now = nowIso();
    const passwordHash = u.password === undefined ? null : await hashPassword(u.password);
    try {
      await this.db.transaction().execute(async (trx) => {
        await trx
          .insertInto('users')
          .values({
            username: u.username,
            password_hash: passwordHash,
            enabled: u.enabled ? 1 : 0,
            expires_at: u.expiresAt === undefined ? null : storedTime(u.expiresAt),
            settings: JSON.stringify(settings),
            created_at: now,
            updated_at: now,
          })
          .execute();
        await setGroups(trx, u.username, u.groups);
      });
    } catch (err) {
      if (isUniqueViolation(err))
        throw new StorageError('AlreadyExists', `username: a user named ${u.username} already exists`);
      throw err;
    }
    await recordChange(this.ctx, actor, 'users', 'create', u.username, fieldsOf(input));
    return this.get(u.username);
  }

  async get(username: string): Promise<UserView> {
    const row = await this.#row(username);
    if (!row) throw new StorageError('NotFound', `no user named ${username}`);
    return this.#viewOf(row);
  }

  async list(page?: Page): Promise<UserView[]> {
    const { offset, limit } = pageOf(page);
    const rows = await this.db
      .selectFrom('users')
      .selectAll()
      .orderBy('username')
      .offset(offset)
      .limit(limit)
      .execute();
    if (rows.length === 0) return [];
    // One query for the page's memberships, not one per user.
    const memberships = await this.db
      .selectFrom('user_groups')
      .select(['username', 'group_name'])
      .where(
        'username',
        'in',
        rows.map((r) => r.username),
      )
      .orderBy('username')
      .orderBy('position')
      .execute();
    const groups = new Map<string, string[]>();
    for (const m of memberships) groups.set(m.username, [...(groups.get(m.username) ?? []), m.group_name]);
    return rows.map((r) => this.#view(r, groups.get(r.username) ?? []));
  }

  async update(username: string, patch: UserPatch, actor: Actor): Promise<UserView> {
    requireRole(actor, 'users', 'change users');
    const p = parsePatch(userPatchSchema, patch, 'user');
    const row = await this.#row(username);
    if (!row) throw new StorageError('NotFound', `no user named ${username}`);
    const current = parseStored(userSettingsSchema, row.settings, `user ${username}`);
    const settingsPatch = {
      set: pick(p.set, settingKeys),
      cleared: p.cleared.filter((k) => settingKeys.includes(k)),
    };
    const settings = parseInput(userSettingsSchema, applyPatch(current, settingsPatch), 'user');
    if ('home' in settingsPatch.set) await checkTarget(this.db, settings.home, 'home', actor);
    const groups = p.set.groups as string[] | undefined;
    if (groups) await checkGroups(this.db, groups);
    const changes: Partial<UsersTable> = { settings: JSON.stringify(settings), updated_at: nowIso() };
    if (typeof p.set.password === 'string') changes.password_hash = await hashPassword(p.set.password);
    if (p.cleared.includes('password')) changes.password_hash = null;
    if (typeof p.set.enabled === 'boolean') changes.enabled = p.set.enabled ? 1 : 0;
    if (p.cleared.includes('enabled')) changes.enabled = 1; // back to the default
    if (typeof p.set.expiresAt === 'string') changes.expires_at = storedTime(p.set.expiresAt);
    if (p.cleared.includes('expiresAt')) changes.expires_at = null;
    await this.db.transaction().execute(async (trx) => {
      await trx.updateTable('users').set(changes).where('username', '=', username).execute();
      if (groups) await setGroups(trx, username, groups);
      else if (p.cleared.includes('groups')) await setGroups(trx, username, []);
      // A new (or no) password ends the logins made with the old one: it may have leaked.
      if ('password_hash' in changes)
        await trx
          .deleteFrom('login_sessions')
          .where('kind', '=', 'user')
          .where('subject', '=', username)
          .execute();
    });
    await recordChange(this.ctx, actor, 'users', 'update', username, fieldsOf(patch));
    return this.get(username);
  }

  async remove(username: string, actor: Actor): Promise<void> {
    requireRole(actor, 'users', 'remove users');
    await this.db.transaction().execute(async (trx) => {
      const gone = await trx.deleteFrom('users').where('username', '=', username).executeTakeFirst();
      if (Number(gone.numDeletedRows) === 0) throw new StorageError('NotFound', `no user named ${username}`);
      // SQLite and PostgreSQL cascade user_groups and api_keys; the rest is keyed by name only.
      await trx.deleteFrom('user_groups').where('username', '=', username).execute();
      await trx
        .deleteFrom('mounts')
        .where('owner_kind', '=', 'user')
        .where('owner_name', '=', username)
        .execute();
      await trx
        .deleteFrom('login_sessions')
        .where('kind', '=', 'user')
        .where('subject', '=', username)
        .execute();
      await trx.deleteFrom('quota_usage').where('username', '=', username).execute();
    });
    await recordChange(this.ctx, actor, 'users', 'remove', username);
  }

  async verifyPassword(username: string, password: string): Promise<UserView | undefined> {
    const row = await this.#row(username);
    const ok = await verifyPassword(password, row?.password_hash);
    return ok && row ? this.#viewOf(row) : undefined;
  }

  async verifyPublicKey(
    username: string,
    _algorithm: string,
    publicKey: Buffer,
  ): Promise<UserView | undefined> {
    // The key blob names its own type, so comparing blobs covers the algorithm (rsa-sha2-256 and
    // rsa-sha2-512 both sign with an ssh-rsa key).
    const row = await this.#row(username);
    if (!row) return undefined;
    const view = await this.#viewOf(row);
    let found = false;
    for (const line of view.sshKeys) {
      const blob = Buffer.from(line.split(' ')[1] ?? '', 'base64');
      if (blob.length === publicKey.length && timingSafeEqual(blob, publicKey)) found = true;
    }
    return found ? view : undefined;
  }

  effective(username: string): Promise<EffectiveUser> {
    return effectiveUser(this.db, this.ctx.defaultHome, username);
  }

  #row(username: string) {
    return this.db.selectFrom('users').selectAll().where('username', '=', username).executeTakeFirst();
  }

  async #viewOf(row: UsersTable): Promise<UserView> {
    return this.#view(row, await groupsOf(this.db, row.username));
  }

  #view(row: UsersTable, groups: string[]): UserView {
    const settings = parseStored(userSettingsSchema, row.settings, `user ${row.username}`);
    return {
      ...settings,
      username: row.username,
      hasPassword: row.password_hash !== null,
      enabled: row.enabled === 1,
      ...(row.expires_at === null ? {} : { expiresAt: row.expires_at }),
      groups,
      createdAt: row.created_at,
      updatedAt: row.updated_at,
    };
  }
}

/** A user's groups, in the order their settings apply. */
export async function groupsOf(db: Kysely<Database>, username: string): Promise<string[]> {
  const rows = await db
    .selectFrom('user_groups')
    .select('group_name')
    .where('username', '=', username)
    .orderBy('position')
    .execute();
  return rows.map((r) => r.group_name);
}

async function checkGroups(db: Kysely<Database>, groups: string[]): Promise<void> {
  if (new Set(groups).size !== groups.length)
    throw new StorageError('InvalidArgument', 'groups: a group is listed twice');
  if (groups.length === 0) return;
  const rows = await db.selectFrom('groups').select('name').where('name', 'in', groups).execute();
  const known = new Set(rows.map((r) => r.name));
  const missing = groups.filter((g) => !known.has(g));
  if (missing.length > 0)
    throw new StorageError('InvalidArgument', `groups: no group named ${missing.join(', ')}`);
}

async function setGroups(db: Kysely<Database>, username: string, groups: string[]): Promise<void> {
  await db.deleteFrom('user_groups').where('username', '=', username).execute();
  if (groups.length === 0) return;
  await db
    .insertInto('user_groups')
    .values(groups.map((g, position) => ({ username, group_name: g, position })))
    .execute();
}

function pick(o: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([k, v]) => keys.includes(k) && v !== undefined));
}

/** The field names an input touched (for the audit log: names only, never values). */
export function fieldsOf(input: unknown): string[] {
  return input && typeof input === 'object' ? Object.keys(input).sort() : [];
}
