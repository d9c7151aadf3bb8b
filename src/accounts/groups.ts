import type { Kysely } from 'kysely';
import { nowIso } from '../db/database.js';
import type { Database, GroupsTable } from '../db/schema.js';
import { StorageError } from '../storage/errors.js';
import { type AccountsContext, checkTarget, parseStored, recordChange } from './context.js';
import { listByName } from './list-by-name.js';
import {
  accountSettingsSchema,
  type GroupInput,
  type GroupView,
  groupInputSchema,
  groupPatchSchema,
} from './model.js';
import type { Actor, CrudService, GroupPatch, Page } from './types.js';
import { fieldsOf } from './users.js';
import { applyPatch, isUniqueViolation, parseInput, parsePatch, requireRole } from './validation.js';

/** Groups: settings their members inherit (effective-user.ts merges them). */
export class StoreGroupService implements CrudService<GroupInput, GroupPatch, GroupView> {
  constructor(private readonly ctx: AccountsContext) {}

  private get db(): Kysely<Database> {
    return this.ctx.db;
  }

  async create(input: GroupInput, actor: Actor): Promise<GroupView> {
    requireRole(actor, 'groups', 'create groups');
    const { name, ...settings } = parseInput(groupInputSchema, input, 'group');
    await checkTarget(this.db, settings.home, 'home', actor);
    const now = nowIso();
    try {
      await this.db
        .insertInto('groups')
        .values({ name, settings: JSON.stringify(settings), created_at: now, updated_at: now })
        .execute();
    } catch (err) {
      if (isUniqueViolation(err))
        throw new StorageError('AlreadyExists', `name: a group named ${name} already exists`);
      throw err;
    }
    await recordChange(this.ctx, actor, 'groups', 'create', name, fieldsOf(input));
    return this.get(name);
  }

  async get(name: string): Promise<GroupView> {
    const row = await this.db.selectFrom('groups').selectAll().where('name', '=', name).executeTakeFirst();
    if (!row) throw new StorageError('NotFound', `no group named ${name}`);
    return view(row);
  }

  async list(page?: Page): Promise<GroupView[]> {
    return (await listByName(this.db, 'groups', page)).map(view);
  }

  async update(name: string, patch: GroupPatch, actor: Actor): Promise<GroupView> {
    requireRole(actor, 'groups', 'change groups');
    const p = parsePatch(groupPatchSchema, patch, 'group');
    const current = await this.get(name);
    const { createdAt: _c, updatedAt: _u, name: _n, ...settings } = current;
    const next = parseInput(accountSettingsSchema, applyPatch(settings, p), 'group');
    if ('home' in p.set) await checkTarget(this.db, next.home, 'home', actor);
    await this.db
      .updateTable('groups')
      .set({ settings: JSON.stringify(next), updated_at: nowIso() })
      .where('name', '=', name)
      .execute();
    await recordChange(this.ctx, actor, 'groups', 'update', name, fieldsOf(patch));
    return this.get(name);
  }

  /** Conflict while the group has members (naming a few); the group's own mounts go with it. */
  async remove(name: string, actor: Actor): Promise<void> {
    requireRole(actor, 'groups', 'remove groups');
    await this.db.transaction().execute(async (trx) => {
      const members = await trx
        .selectFrom('user_groups')
        .select('username')
        .where('group_name', '=', name)
        .orderBy('username')
        .execute();
      if (members.length > 0) {
        const names = members.slice(0, 5).map((m) => m.username);
        throw new StorageError(
          'Conflict',
          `group ${name} still has ${members.length} member(s): ${names.join(', ')}${members.length > 5 ? ', …' : ''}`,
        );
      }
      const gone = await trx.deleteFrom('groups').where('name', '=', name).executeTakeFirst();
      if (Number(gone.numDeletedRows) === 0) throw new StorageError('NotFound', `no group named ${name}`);
      await trx
        .deleteFrom('mounts')
        .where('owner_kind', '=', 'group')
        .where('owner_name', '=', name)
        .execute();
    });
    await recordChange(this.ctx, actor, 'groups', 'remove', name);
  }
}

function view(row: GroupsTable): GroupView {
  return {
    ...parseStored(accountSettingsSchema, row.settings, `group ${row.name}`),
    name: row.name,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}
