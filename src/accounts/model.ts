import ipaddr from 'ipaddr.js';
import { z } from 'zod';
import { s3ConnectionFields } from '../s3/connection-schema.js';

/**
 * The account model, declared once: these zod schemas validate what the admin API, the admin CLI
 * and the config file accept, give the OpenAPI document its shapes, and check what the store
 * reads back. Secrets appear only in the *Input schemas (a password, a connection's secret key);
 * the view schemas that leave the server never carry them.
 */

/**
 * The fields of `shape`, each optional and without its default: what a partial input or a patch
 * accepts. zod's `.partial()` keeps defaults, so `{ password }` parsed by a partial user schema
 * came back with `groups: []` and `enabled: true`, and a partial connection with `prefix: ''`.
 * With `nullable`, `null` is accepted too: a patch's way to clear a field (an optional one is
 * removed, a defaulted one returns to its default).
 */
type OptionalShape<S extends z.ZodRawShape, N extends boolean> = {
  [K in keyof S]: z.ZodOptional<N extends true ? z.ZodNullable<S[K]> : S[K]>;
};
export function optionalFields<S extends z.ZodRawShape, N extends boolean = false>(
  shape: S,
  nullable?: N,
): z.ZodObject<OptionalShape<S, N>> {
  const out: Record<string, z.ZodType> = {};
  for (const [key, value] of Object.entries(shape)) {
    const field = value instanceof z.ZodDefault ? (value.unwrap() as z.ZodType) : (value as z.ZodType);
    out[key] = (nullable ? field.nullable() : field).optional();
  }
  return z.object(out) as unknown as z.ZodObject<OptionalShape<S, N>>;
}

/** Names of users, groups, connections, admins: safe in paths, URLs, logs and key prefixes. */
export const nameSchema = z
  .string()
  .regex(
    /^[a-z0-9][a-z0-9._-]{0,63}$/,
    'use 1–64 lower-case letters, digits, ".", "_" or "-", starting with a letter or digit',
  );

/** A path in a user's virtual tree: absolute, `/` separated (`/`, `/incoming`, `/shared/docs`). */
export const virtualPathSchema = z
  .string()
  .regex(/^\/[^\u0000-\u001f\u007f]*$/, 'must be an absolute path such as /incoming')
  .refine((p) => !p.split('/').some((s) => s === '..' || s === '.'), 'may not contain . or .. segments');

/**
 * What a user may do at a path. `*` grants every one. `upload` creates new files, `overwrite`
 * replaces, appends to or resumes existing ones (SFTPGo's rule, docs/sessions.md): a drop box
 * that only takes new files is `upload` alone (no `download`, `overwrite` or `delete`), one that
 * may also resume an interrupted upload adds `overwrite`; `set-times` allows changing
 * modification times.
 */
export const permissionNames = [
  'list',
  'download',
  'upload',
  'overwrite',
  'delete',
  'rename',
  'mkdir',
  'set-times',
] as const;
export type PermissionName = (typeof permissionNames)[number];
export const permissionSchema = z.enum([...permissionNames, '*']);

/**
 * Per-path permissions: virtual path → permissions there and below. The most specific path
 * applies (SFTPGo's rule); a user without any entry for `/` inherits their groups', else `*`.
 */
export const permissionMapSchema = z.record(virtualPathSchema, z.array(permissionSchema));

const cidrSchema = z
  .string()
  .refine(
    (v) => ipaddr.isValid(v) || ipaddr.isValidCIDR(v),
    'must be an IP address or a CIDR range such as 10.0.0.0/8 or 2001:db8::/32',
  );

/**
 * Where files live: a named connection (S3) and a key prefix in it, or a local folder. A prefix
 * (and a group's home) may contain `%username%`, replaced by the member's name.
 */
export const storageTargetSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('s3'),
    connection: nameSchema,
    prefix: z.string().default(''),
  }),
  z.object({
    type: z.literal('local'),
    path: z.string().regex(/^\//, 'must be an absolute folder path'),
  }),
]);
export type StorageTarget = z.infer<typeof storageTargetSchema>;

/** Settings a user has and a group gives its members (a user's own value wins over a group's). */
export const accountSettingsSchema = z.object({
  description: z.string().max(1000).optional(),
  /** Unset: the server's default storage, with the username as prefix or folder. */
  home: storageTargetSchema.optional(),
  permissions: permissionMapSchema.optional(),
  quota: z
    .object({
      /** Bytes the user's files may take in total (unset: unlimited). */
      bytes: z.number().int().min(0).optional(),
      /** Number of files (unset: unlimited). */
      files: z.number().int().min(0).optional(),
    })
    .optional(),
  bandwidth: z
    .object({
      uploadBytesPerSecond: z.number().int().min(1).optional(),
      downloadBytesPerSecond: z.number().int().min(1).optional(),
    })
    .optional(),
  /** Concurrent sessions (all protocols) per node; unset: unlimited. */
  maxSessions: z.number().int().min(1).optional(),
  /** When set, logins only from these addresses/ranges. */
  allowedIps: z.array(cidrSchema).optional(),
  /** Logins from these addresses/ranges are refused (checked before allowedIps). */
  deniedIps: z.array(cidrSchema).optional(),
  /** chmod/chown requests: `ignore` (succeed, change nothing) or `refuse` (permission denied). */
  setstatMode: z.enum(['ignore', 'refuse']).optional(),
});
export type AccountSettings = z.infer<typeof accountSettingsSchema>;

/** OpenSSH public key line: `type base64 [comment]`. */
export const sshPublicKeySchema = z
  .string()
  .regex(
    /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com) [A-Za-z0-9+/]+={0,3}( .*)?$/,
    'must be an OpenSSH public key line (ssh-ed25519 AAAA… comment)',
  );

export const userSettingsSchema = accountSettingsSchema.extend({
  sshKeys: z.array(sshPublicKeySchema).default([]),
});

/** A user as the admin API creates one. `password` is hashed on the way in, never stored. */
export const userInputSchema = userSettingsSchema.extend({
  username: nameSchema,
  password: z.string().min(8, 'at least 8 characters').max(1024).optional(),
  enabled: z.boolean().default(true),
  expiresAt: z.iso.datetime().optional(),
  /** Group names, in the order their settings apply (later groups win). */
  groups: z.array(nameSchema).default([]),
});
export type UserInput = z.input<typeof userInputSchema>;
/** A change to a user: any field but the name, only those sent; `null` clears one. */
export const userPatchSchema = optionalFields(userInputSchema.omit({ username: true }).shape, true);
export type UserPatch = z.input<typeof userPatchSchema>;

/** A user as the API and CLI show one (no password hash). */
export const userViewSchema = userSettingsSchema.extend({
  username: nameSchema,
  hasPassword: z.boolean(),
  enabled: z.boolean(),
  expiresAt: z.string().optional(),
  groups: z.array(nameSchema),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type UserView = z.infer<typeof userViewSchema>;

export const groupInputSchema = accountSettingsSchema.extend({ name: nameSchema });
export type GroupInput = z.input<typeof groupInputSchema>;
export const groupPatchSchema = optionalFields(accountSettingsSchema.shape, true);
export const groupViewSchema = groupInputSchema.extend({ createdAt: z.string(), updatedAt: z.string() });
export type GroupView = z.infer<typeof groupViewSchema>;

/** The fields of an S3 connection that are secrets: encrypted at rest, never returned or logged. */
export const connectionSecretFields = [
  'secretAccessKey',
  'sessionToken',
  'sseCustomerKey',
  'proxyPassword',
] as const;
export type ConnectionSecretField = (typeof connectionSecretFields)[number];

/**
 * A named connection: the one S3 connection schema (src/s3/connection.ts) plus what a server
 * adds. `url` (`s3://bucket/prefix`, optionally with keys) may give bucket, prefix and keys.
 */
export const connectionInputSchema = z.object({
  name: nameSchema,
  url: z.string().optional(),
  /** Show unfinished multipart uploads in listings (as `name.partial-upload` entries, read-only). */
  showPartialUploads: z.boolean().default(false),
  /** Any field of the S3 connection schema; checked whole (with bucket, from here or `url`) on save. */
  settings: optionalFields(s3ConnectionFields.shape).default({}),
});
export type ConnectionInput = z.input<typeof connectionInputSchema>;
/** A change to a connection: a new `url` replaces bucket, prefix, endpoint (and keys if it has some). */
export const connectionPatchSchema = z.object({
  url: z.string().optional(),
  showPartialUploads: z.boolean().optional(),
  /** Only the settings sent change; `null` clears one (a secret too). */
  settings: optionalFields(s3ConnectionFields.shape, true).optional(),
});
export const connectionViewSchema = z.object({
  name: nameSchema,
  showPartialUploads: z.boolean(),
  /** The connection's settings without its secrets. */
  settings: z.record(z.string(), z.unknown()),
  /** Which secrets are set (their values never leave the server). */
  secretsSet: z.array(z.enum(connectionSecretFields)),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type ConnectionView = z.infer<typeof connectionViewSchema>;

/** A virtual folder: `path` in the owner's tree shows `target` (another bucket/prefix or folder). */
export const mountSettingsSchema = z.object({
  target: storageTargetSchema,
  readOnly: z.boolean().default(false),
  /** Permissions inside the mount (default: the owner's permissions at `path`). */
  permissions: z.array(permissionSchema).optional(),
});
export const mountInputSchema = mountSettingsSchema.extend({
  owner: z.union([z.object({ user: nameSchema }), z.object({ group: nameSchema })]),
  path: virtualPathSchema.refine((p) => p !== '/', 'a mount cannot replace the home (/)'),
});
export type MountInput = z.input<typeof mountInputSchema>;
/** A change to a mount (its owner stays); `null` clears `permissions`. */
export const mountPatchSchema = optionalFields(mountInputSchema.omit({ owner: true }).shape, true);
export const mountViewSchema = mountInputSchema.extend({
  id: z.string(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type MountView = z.infer<typeof mountViewSchema>;

/**
 * Admin roles: `admin` may do everything; `manager` manages users, groups and mounts and reads
 * the rest, but only role admin points a home or mount at a local folder (the server's own disk);
 * `viewer` only reads. Secrets are never readable by any role.
 */
export const adminRoles = ['admin', 'manager', 'viewer'] as const;
export const adminInputSchema = z.object({
  username: nameSchema,
  password: z.string().min(8, 'at least 8 characters').max(1024),
  role: z.enum(adminRoles).default('admin'),
});
export type AdminInput = z.input<typeof adminInputSchema>;
/** A change to an admin: password and/or role. */
export const adminPatchSchema = optionalFields(adminInputSchema.omit({ username: true }).shape);
export const adminViewSchema = z.object({
  username: nameSchema,
  role: z.enum(adminRoles),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type AdminView = z.infer<typeof adminViewSchema>;

/** An API key acts as one admin (admin API) or one user (file API). Its secret is shown once. */
export const apiKeyInputSchema = z.object({
  name: z.string().min(1).max(100),
  owner: z.union([z.object({ admin: nameSchema }), z.object({ user: nameSchema })]),
  expiresAt: z.iso.datetime().optional(),
});
export type ApiKeyInput = z.input<typeof apiKeyInputSchema>;
export const apiKeyViewSchema = apiKeyInputSchema.extend({
  id: z.string(),
  createdAt: z.string(),
  lastUsedAt: z.string().optional(),
});
export type ApiKeyView = z.infer<typeof apiKeyViewSchema>;
