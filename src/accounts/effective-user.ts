import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { StorageError } from '../storage/errors.js';
import { normalizePath } from '../storage/paths.js';
import { parseStored } from './context.js';
import {
  type AccountSettings,
  accountSettingsSchema,
  mountSettingsSchema,
  type PermissionName,
  permissionNames,
  type StorageTarget,
  userSettingsSchema,
} from './model.js';
import type { EffectiveUser } from './types.js';

/**
 * A user as the session layer sees them. Inheritance: the user's groups apply in their order,
 * then the user's own settings; a later value replaces an earlier one, field by field inside
 * `quota` and `bandwidth`, path by path inside `permissions`. `deniedIps` is the exception: every
 * group's denials and the user's add up (a denial is never lifted by another group). `*` expands
 * to every permission, `/` always has an entry (else all), `%username%` in a home or mount target
 * is the user's name, and with no home the server's default storage + the username is used.
 * A disabled or expired user still resolves: refusing them is the session layer's call.
 */
export async function effectiveUser(
  db: Kysely<Database>,
  defaultHome: StorageTarget,
  username: string,
): Promise<EffectiveUser> {
  const row = await db.selectFrom('users').selectAll().where('username', '=', username).executeTakeFirst();
  if (!row) throw new StorageError('NotFound', `no user named ${username}`);
  const own = parseStored(userSettingsSchema, row.settings, `user ${username}`);
  const groupRows = await db
    .selectFrom('user_groups')
    .innerJoin('groups', 'groups.name', 'user_groups.group_name')
    .select(['groups.name', 'groups.settings'])
    .where('user_groups.username', '=', username)
    .orderBy('user_groups.position')
    .execute();
  const layers: AccountSettings[] = [
    ...groupRows.map((g) => parseStored(accountSettingsSchema, g.settings, `group ${g.name}`)),
    own,
  ];

  const merged: EffectiveUser = {
    username,
    enabled: row.enabled === 1,
    ...(row.expires_at === null ? {} : { expiresAt: new Date(row.expires_at) }),
    home: defaultHomeFor(defaultHome, username),
    permissions: {},
    mounts: [],
    quota: {},
    bandwidth: {},
    allowedIps: [],
    deniedIps: [],
    setstatMode: 'ignore',
  };
  const permissions: Record<string, PermissionName[]> = {};
  const denied = new Set<string>();
  for (const s of layers) {
    if (s.home) merged.home = expandTarget(s.home, username);
    for (const [path, perms] of Object.entries(s.permissions ?? {}))
      permissions[path] = expandPermissions(perms);
    merged.quota = { ...merged.quota, ...defined(s.quota) };
    merged.bandwidth = { ...merged.bandwidth, ...defined(s.bandwidth) };
    if (s.maxSessions !== undefined) merged.maxSessions = s.maxSessions;
    if (s.allowedIps) merged.allowedIps = [...s.allowedIps];
    for (const ip of s.deniedIps ?? []) denied.add(ip);
    if (s.setstatMode) merged.setstatMode = s.setstatMode;
  }
  permissions['/'] ??= [...permissionNames];
  merged.permissions = permissions;
  merged.deniedIps = [...denied];

  // Mounts: the groups' in order, then the user's own; the same path later replaces earlier.
  const owners = [...groupRows.map((g) => ['group', g.name] as const), ['user', username] as const];
  const mounts = new Map<string, EffectiveUser['mounts'][number]>();
  for (const [kind, name] of owners) {
    const rows = await db
      .selectFrom('mounts')
      .selectAll()
      .where('owner_kind', '=', kind)
      .where('owner_name', '=', name)
      .orderBy('path')
      .execute();
    for (const m of rows) {
      const s = parseStored(mountSettingsSchema, m.settings, `mount ${m.path} of ${kind} ${name}`);
      mounts.set(m.path, {
        path: m.path,
        target: expandTarget(s.target, username),
        readOnly: s.readOnly,
        ...(s.permissions ? { permissions: expandPermissions(s.permissions) } : {}),
      });
    }
  }
  merged.mounts = [...mounts.values()].sort((a, b) => a.path.localeCompare(b.path));
  return merged;
}

/** The server's default storage with the username appended (prefix `base/alice`, folder `/base/alice`). */
export function defaultHomeFor(defaultHome: StorageTarget, username: string): StorageTarget {
  if (defaultHome.type === 's3') {
    const base = normalizePath(defaultHome.prefix.replaceAll('%username%', username));
    return { ...defaultHome, prefix: base === '' ? username : `${base}/${username}` };
  }
  return { type: 'local', path: `${defaultHome.path.replace(/\/+$/, '')}/${username}` };
}

function expandTarget(target: StorageTarget, username: string): StorageTarget {
  if (target.type === 's3')
    return { ...target, prefix: normalizePath(target.prefix.replaceAll('%username%', username)) };
  return { type: 'local', path: target.path.replaceAll('%username%', username) };
}

function expandPermissions(perms: readonly string[]): PermissionName[] {
  if (perms.includes('*')) return [...permissionNames];
  return permissionNames.filter((p) => perms.includes(p));
}

function defined<T extends object>(o: T | undefined): Partial<T> {
  return Object.fromEntries(Object.entries(o ?? {}).filter(([, v]) => v !== undefined)) as Partial<T>;
}
