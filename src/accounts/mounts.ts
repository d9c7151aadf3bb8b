import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import { nowIso } from '../db/database.js';
import type { Database, MountsTable } from '../db/schema.js';
import { StorageError } from '../storage/errors.js';
import { type AccountsContext, checkTarget, parseStored, recordChange } from './context.js';
import {
  type MountInput,
  type MountView,
  mountInputSchema,
  mountPatchSchema,
  mountSettingsSchema,
} from './model.js';
import type { Actor, MountPatch, MountService, Page } from './types.js';
import { fieldsOf } from './users.js';
import { applyPatch, isUniqueViolation, pageOf, parseInput, parsePatch, requireRole } from './validation.js';

/** Virtual folders of a user or a group: `path` in the owner's tree shows `target`. */
export class StoreMountService implements MountService {
  constructor(private readonly ctx: AccountsContext) {}

  private get db(): Kysely<Database> {
    return this.ctx.db;
  }

  async create(input: MountInput, actor: Actor): Promise<MountView> {
    requireRole(actor, 'mounts', 'create mounts');
    const m = parseInput(mountInputSchema, input, 'mount');
    const [kind, name] =
      'user' in m.owner ? (['user', m.owner.user] as const) : (['group', m.owner.group] as const);
    const owner =
      kind === 'user'
        ? await this.db.selectFrom('users').select('username').where('username', '=', name).executeTakeFirst()
        : await this.db.selectFrom('groups').select('name').where('name', '=', name).executeTakeFirst();
    if (!owner) throw new StorageError('InvalidArgument', `owner.${kind}: no ${kind} named ${name}`);
    await checkTarget(this.db, m.target, 'target', actor);
    const id = randomUUID();
    const now = nowIso();
    const settings = {
      target: m.target,
      readOnly: m.readOnly,
      ...(m.permissions ? { permissions: m.permissions } : {}),
    };
    try {
      await this.db
        .insertInto('mounts')
        .values({
          id,
          owner_kind: kind,
          owner_name: name,
          path: m.path,
          settings: JSON.stringify(settings),
          created_at: now,
          updated_at: now,
        })
        .execute();
    } catch (err) {
      if (isUniqueViolation(err))
        throw new StorageError('AlreadyExists', `path: ${kind} ${name} already has a mount at ${m.path}`);
      throw err;
    }
    await recordChange(this.ctx, actor, 'mounts', 'create', id, fieldsOf(input));
    return this.get(id);
  }

  async get(id: string): Promise<MountView> {
    return view(await this.#row(id));
  }

  async list(page?: Page): Promise<MountView[]> {
    const { offset, limit } = pageOf(page);
    const rows = await this.db
      .selectFrom('mounts')
      .selectAll()
      .orderBy('owner_kind')
      .orderBy('owner_name')
      .orderBy('path')
      .offset(offset)
      .limit(limit)
      .execute();
    return rows.map(view);
  }

  async listFor(owner: { user: string } | { group: string }): Promise<MountView[]> {
    const [kind, name] =
      'user' in owner ? (['user', owner.user] as const) : (['group', owner.group] as const);
    const rows = await this.db
      .selectFrom('mounts')
      .selectAll()
      .where('owner_kind', '=', kind)
      .where('owner_name', '=', name)
      .orderBy('path')
      .execute();
    return rows.map(view);
  }

  async update(id: string, patch: MountPatch, actor: Actor): Promise<MountView> {
    requireRole(actor, 'mounts', 'change mounts');
    const p = parsePatch(mountPatchSchema, patch, 'mount');
    const row = await this.#row(id);
    const current = parseStored(mountSettingsSchema, row.settings, `mount ${id}`);
    const next = applyPatch({ ...current, path: row.path }, p);
    const { path, ...settings } = parseInput(mountInputSchema.omit({ owner: true }), next, 'mount');
    if ('target' in p.set) await checkTarget(this.db, settings.target, 'target', actor);
    try {
      await this.db
        .updateTable('mounts')
        .set({ path, settings: JSON.stringify(settings), updated_at: nowIso() })
        .where('id', '=', id)
        .execute();
    } catch (err) {
      if (isUniqueViolation(err))
        throw new StorageError(
          'AlreadyExists',
          `path: ${row.owner_kind} ${row.owner_name} already has a mount at ${path}`,
        );
      throw err;
    }
    await recordChange(this.ctx, actor, 'mounts', 'update', id, fieldsOf(patch));
    return this.get(id);
  }

  async remove(id: string, actor: Actor): Promise<void> {
    requireRole(actor, 'mounts', 'remove mounts');
    const gone = await this.db.deleteFrom('mounts').where('id', '=', id).executeTakeFirst();
    if (Number(gone.numDeletedRows) === 0) throw new StorageError('NotFound', `no mount with id ${id}`);
    await recordChange(this.ctx, actor, 'mounts', 'remove', id);
  }

  async #row(id: string): Promise<MountsTable> {
    const row = await this.db.selectFrom('mounts').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) throw new StorageError('NotFound', `no mount with id ${id}`);
    return row;
  }
}

function view(row: MountsTable): MountView {
  const s = parseStored(mountSettingsSchema, row.settings, `mount ${row.id}`);
  return {
    ...s,
    id: row.id,
    owner: row.owner_kind === 'user' ? { user: row.owner_name } : { group: row.owner_name },
    path: row.path,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}
