import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Kysely } from 'kysely';
import { nowIso } from '../db/database.js';
import type { ApiKeysTable, Database } from '../db/schema.js';
import { StorageError } from '../storage/errors.js';
import type { StoreAdminService } from './admins.js';
import { type AccountsContext, recordChange } from './context.js';
import {
  type AdminView,
  type ApiKeyInput,
  type ApiKeyView,
  apiKeyInputSchema,
  type UserView,
} from './model.js';
import type { Actor, ApiKeyService, Page } from './types.js';
import type { StoreUserService } from './users.js';
import { pageOf, parseInput, requireRole, storedTime } from './validation.js';

/** `ferry_<id>_<secret>`: id 16 hex characters (looked up), secret 32 random bytes base64url. */
const KEY_FORMAT = /^ferry_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;
const DUMMY_HASH = sha256('no such key');

/**
 * API keys. Only a SHA-256 of the secret is stored (the secret has 256 random bits, so a slow hash
 * adds nothing); the presented secret is compared in constant time, and an unknown id still costs
 * the same hash and comparison.
 */
export class StoreApiKeyService implements ApiKeyService {
  constructor(
    private readonly ctx: AccountsContext,
    private readonly admins: StoreAdminService,
    private readonly users: StoreUserService,
  ) {}

  private get db(): Kysely<Database> {
    return this.ctx.db;
  }

  async create(input: ApiKeyInput, actor: Actor): Promise<{ key: ApiKeyView; secret: string }> {
    const k = parseInput(apiKeyInputSchema, input, 'API key');
    // Admin keys: role admin, or an admin making a key for themselves. User keys: who manages users.
    if ('admin' in k.owner) {
      if (!(actor.kind === 'admin' && actor.name === k.owner.admin))
        requireRole(actor, 'apikeys', 'create admin API keys');
      await this.admins.get(k.owner.admin).catch(() => {
        throw new StorageError(
          'InvalidArgument',
          `owner.admin: no admin named ${'admin' in k.owner ? k.owner.admin : ''}`,
        );
      });
    } else {
      requireRole(actor, 'users', 'create API keys for users');
      const name = k.owner.user;
      await this.users.get(name).catch(() => {
        throw new StorageError('InvalidArgument', `owner.user: no user named ${name}`);
      });
    }
    const id = randomBytes(8).toString('hex');
    const secretPart = randomBytes(32).toString('base64url');
    await this.db
      .insertInto('api_keys')
      .values({
        id,
        name: k.name,
        key_hash: sha256(secretPart),
        admin_username: 'admin' in k.owner ? k.owner.admin : null,
        username: 'user' in k.owner ? k.owner.user : null,
        expires_at: k.expiresAt === undefined ? null : storedTime(k.expiresAt),
        created_at: nowIso(),
        last_used_at: null,
      })
      .execute();
    await recordChange(
      this.ctx,
      actor,
      'apikeys',
      'create',
      id,
      ['expiresAt', 'name', 'owner'].filter((f) => f in input),
    );
    return { key: await this.get(id), secret: `ferry_${id}_${secretPart}` };
  }

  async list(page?: Page & { admin?: string; user?: string }): Promise<ApiKeyView[]> {
    const { offset, limit } = pageOf(page);
    let q = this.db.selectFrom('api_keys').selectAll();
    if (page?.admin) q = q.where('admin_username', '=', page.admin);
    if (page?.user) q = q.where('username', '=', page.user);
    const rows = await q.orderBy('created_at').orderBy('id').offset(offset).limit(limit).execute();
    return rows.map(view);
  }

  async get(id: string): Promise<ApiKeyView> {
    const row = await this.db.selectFrom('api_keys').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) throw new StorageError('NotFound', `no API key with id ${id}`);
    return view(row);
  }

  async remove(id: string, actor: Actor): Promise<void> {
    const key = await this.get(id);
    const own = actor.kind === 'admin' && 'admin' in key.owner && key.owner.admin === actor.name;
    if (!own) requireRole(actor, 'user' in key.owner ? 'users' : 'apikeys', 'remove API keys');
    await this.db.deleteFrom('api_keys').where('id', '=', id).execute();
    await recordChange(this.ctx, actor, 'apikeys', 'remove', id);
  }

  async verify(secret: string): Promise<{ key: ApiKeyView; admin?: AdminView; user?: UserView } | undefined> {
    const m = KEY_FORMAT.exec(secret);
    const row = m
      ? await this.db.selectFrom('api_keys').selectAll().where('id', '=', m[1]!).executeTakeFirst()
      : undefined;
    const presented = Buffer.from(sha256(m?.[2] ?? secret), 'hex');
    const stored = Buffer.from(row?.key_hash ?? DUMMY_HASH, 'hex');
    const equal = stored.length === presented.length && timingSafeEqual(stored, presented);
    if (!row || !equal) return undefined;
    if (row.expires_at !== null && row.expires_at <= nowIso()) return undefined;
    // last_used_at is written at most once a minute per key: a script's every request would
    // otherwise be a write (and, on SQLite, take the one writer lock).
    let lastUsed = row.last_used_at;
    if (lastUsed === null || Date.parse(lastUsed) < Date.now() - 60_000) {
      lastUsed = nowIso();
      await this.db
        .updateTable('api_keys')
        .set({ last_used_at: lastUsed })
        .where('id', '=', row.id)
        .execute();
    }
    const key = view({ ...row, last_used_at: lastUsed });
    try {
      if (row.admin_username !== null) return { key, admin: await this.admins.get(row.admin_username) };
      if (row.username !== null) return { key, user: await this.users.get(row.username) };
    } catch (err) {
      if (StorageError.is(err, 'NotFound')) return undefined;
      throw err;
    }
    return undefined;
  }
}

function sha256(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

function view(row: ApiKeysTable): ApiKeyView {
  return {
    id: row.id,
    name: row.name,
    owner: row.admin_username !== null ? { admin: row.admin_username } : { user: row.username ?? '' },
    ...(row.expires_at === null ? {} : { expiresAt: row.expires_at }),
    createdAt: row.created_at,
    ...(row.last_used_at === null ? {} : { lastUsedAt: row.last_used_at }),
  };
}
