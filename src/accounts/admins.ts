import type { Kysely } from 'kysely';
import { nowIso } from '../db/database.js';
import type { AdminsTable, Database } from '../db/schema.js';
import { StorageError } from '../storage/errors.js';
import { type AccountsContext, recordChange } from './context.js';
import { type AdminInput, type AdminView, adminInputSchema, adminPatchSchema, adminRoles } from './model.js';
import { hashPassword, verifyPassword } from './passwords.js';
import type { Actor, AdminPatch, AdminRole, AdminService, Page } from './types.js';
import { fieldsOf } from './users.js';
import { isUniqueViolation, pageOf, parseInput, parsePatch, requireRole } from './validation.js';

/** Admin accounts with roles (model.ts `adminRoles`). Only an `admin` manages admins. */
export class StoreAdminService implements AdminService {
  constructor(private readonly ctx: AccountsContext) {}

  private get db(): Kysely<Database> {
    return this.ctx.db;
  }

  async create(input: AdminInput, actor: Actor): Promise<AdminView> {
    requireRole(actor, 'admins', 'create admins');
    const a = parseInput(adminInputSchema, input, 'admin');
    const now = nowIso();
    try {
      await this.db
        .insertInto('admins')
        .values({
          username: a.username,
          password_hash: await hashPassword(a.password),
          role: a.role,
          created_at: now,
          updated_at: now,
        })
        .execute();
    } catch (err) {
      if (isUniqueViolation(err))
        throw new StorageError('AlreadyExists', `username: an admin named ${a.username} already exists`);
      throw err;
    }
    await recordChange(this.ctx, actor, 'admins', 'create', a.username, fieldsOf(input));
    return this.get(a.username);
  }

  async get(username: string): Promise<AdminView> {
    return view(await this.#row(username));
  }

  async list(page?: Page): Promise<AdminView[]> {
    const { offset, limit } = pageOf(page);
    const rows = await this.db
      .selectFrom('admins')
      .selectAll()
      .orderBy('username')
      .offset(offset)
      .limit(limit)
      .execute();
    return rows.map(view);
  }

  async update(username: string, patch: AdminPatch, actor: Actor): Promise<AdminView> {
    // An admin of any role may change their own password; everything else needs role admin.
    const own =
      actor.kind === 'admin' &&
      actor.name === username &&
      Object.keys(patch ?? {}).every((k) => k === 'password');
    if (!own) requireRole(actor, 'admins', 'change admins');
    const p = parsePatch(adminPatchSchema, patch, 'admin');
    if (p.cleared.length > 0) throw new StorageError('InvalidArgument', `${p.cleared[0]}: cannot be cleared`);
    const row = await this.#row(username);
    const changes: Partial<AdminsTable> = { updated_at: nowIso() };
    if (typeof p.set.password === 'string') changes.password_hash = await hashPassword(p.set.password);
    if (typeof p.set.role === 'string') {
      if (row.role === 'admin' && p.set.role !== 'admin') await this.#keepOneAdmin(username);
      changes.role = p.set.role;
    }
    await this.db.transaction().execute(async (trx) => {
      await trx.updateTable('admins').set(changes).where('username', '=', username).execute();
      // A new password ends the logins made with the old one (this one too): it may have leaked.
      if (changes.password_hash !== undefined)
        await trx
          .deleteFrom('login_sessions')
          .where('kind', '=', 'admin')
          .where('subject', '=', username)
          .execute();
    });
    await recordChange(this.ctx, actor, 'admins', 'update', username, fieldsOf(patch));
    return this.get(username);
  }

  /** Conflict for the last admin with role `admin`: the server would be unmanageable. */
  async remove(username: string, actor: Actor): Promise<void> {
    requireRole(actor, 'admins', 'remove admins');
    const row = await this.#row(username);
    if (row.role === 'admin') await this.#keepOneAdmin(username);
    await this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('api_keys').where('admin_username', '=', username).execute();
      await trx
        .deleteFrom('login_sessions')
        .where('kind', '=', 'admin')
        .where('subject', '=', username)
        .execute();
      await trx.deleteFrom('admins').where('username', '=', username).execute();
    });
    await recordChange(this.ctx, actor, 'admins', 'remove', username);
  }

  async verifyPassword(username: string, password: string): Promise<AdminView | undefined> {
    const row = await this.db
      .selectFrom('admins')
      .selectAll()
      .where('username', '=', username)
      .executeTakeFirst();
    const ok = await verifyPassword(password, row?.password_hash);
    return ok && row ? view(row) : undefined;
  }

  async isEmpty(): Promise<boolean> {
    const row = await this.db.selectFrom('admins').select('username').limit(1).executeTakeFirst();
    return row === undefined;
  }

  async #row(username: string): Promise<AdminsTable> {
    const row = await this.db
      .selectFrom('admins')
      .selectAll()
      .where('username', '=', username)
      .executeTakeFirst();
    if (!row) throw new StorageError('NotFound', `no admin named ${username}`);
    return row;
  }

  async #keepOneAdmin(username: string): Promise<void> {
    const others = await this.db
      .selectFrom('admins')
      .select('username')
      .where('role', '=', 'admin')
      .where('username', '!=', username)
      .limit(1)
      .executeTakeFirst();
    if (!others) throw new StorageError('Conflict', `${username} is the last admin with role admin`);
  }
}

function view(row: AdminsTable): AdminView {
  const role = (adminRoles as readonly string[]).includes(row.role) ? (row.role as AdminRole) : 'viewer';
  return { username: row.username, role, createdAt: row.created_at, updatedAt: row.updated_at };
}
