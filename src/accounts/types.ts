import type { z } from 'zod';
import type { S3Connection } from '../s3/connection.js';
import type {
  AdminInput,
  AdminView,
  ApiKeyInput,
  ApiKeyView,
  adminPatchSchema,
  adminRoles,
  ConnectionInput,
  ConnectionView,
  connectionPatchSchema,
  GroupInput,
  GroupView,
  groupPatchSchema,
  MountInput,
  MountView,
  mountPatchSchema,
  PermissionName,
  StorageTarget,
  UserInput,
  UserView,
  userPatchSchema,
} from './model.js';

/**
 * The contracts of the account services (src/accounts/), which the session layer, the HTTP API
 * and the admin CLI call. Every method throws StorageError: InvalidArgument naming the field for
 * bad input, NotFound, AlreadyExists, Conflict (e.g. removing a group that still has members),
 * PermissionDenied (the actor's role may not do this). Every change is recorded in the audit log
 * with its actor, and bumps the change feed so every node's caches drop what changed.
 */

export type AdminRole = (typeof adminRoles)[number];

/** Who asks: an admin (by login or API key), the local admin CLI, or the server itself. */
export interface Actor {
  kind: 'admin' | 'cli' | 'system';
  /** Admin username, `cli`, or `system`. */
  name: string;
  /** The admin's role; `cli` and `system` act as `admin`. */
  role: AdminRole;
  /** The API key used, if any (for the audit log). */
  apiKeyId?: string;
  remote?: string;
}

export interface Page {
  offset?: number;
  /** Default 100, at most 1000. */
  limit?: number;
}

export interface CrudService<Input, Patch, View, Key = string> {
  create(input: Input, actor: Actor): Promise<View>;
  get(key: Key): Promise<View>;
  list(page?: Page): Promise<View[]>;
  update(key: Key, patch: Patch, actor: Actor): Promise<View>;
  remove(key: Key, actor: Actor): Promise<void>;
}

export type UserPatch = z.input<typeof userPatchSchema>;
export type GroupPatch = z.input<typeof groupPatchSchema>;
export type ConnectionPatch = z.input<typeof connectionPatchSchema>;
export type MountPatch = z.input<typeof mountPatchSchema>;
export type AdminPatch = z.input<typeof adminPatchSchema>;

export interface UserService extends CrudService<UserInput, UserPatch, UserView> {
  /**
   * The user if the password is theirs, else undefined; constant time whether or not the user
   * exists (a hash is checked either way). Says nothing about enabled/expiry: see `effective`.
   */
  verifyPassword(username: string, password: string): Promise<UserView | undefined>;
  /** The user if `publicKey` (OpenSSH wire format: type + key blob) is one of their SSH keys. */
  verifyPublicKey(username: string, algorithm: string, publicKey: Buffer): Promise<UserView | undefined>;
  /** What the session layer needs: the user merged with their groups and mounts. NotFound. */
  effective(username: string): Promise<EffectiveUser>;
}

export interface ConnectionService extends CrudService<ConnectionInput, ConnectionPatch, ConnectionView> {
  /** The whole S3 connection, secrets decrypted: for the storage pool only, never for output. */
  resolve(name: string): Promise<S3Connection & { showPartialUploads: boolean }>;
}

export interface MountService extends CrudService<MountInput, MountPatch, MountView> {
  listFor(owner: { user: string } | { group: string }): Promise<MountView[]>;
}

export interface AdminService extends CrudService<AdminInput, AdminPatch, AdminView> {
  /** Constant time, as `UserService.verifyPassword`. */
  verifyPassword(username: string, password: string): Promise<AdminView | undefined>;
  /** True when no admin exists yet (first start creates one). */
  isEmpty(): Promise<boolean>;
}

export interface ApiKeyService {
  /** The new key's view and its secret (`ferry_<id>_<secret>`), shown once. */
  create(input: ApiKeyInput, actor: Actor): Promise<{ key: ApiKeyView; secret: string }>;
  list(page?: Page & { admin?: string; user?: string }): Promise<ApiKeyView[]>;
  get(id: string): Promise<ApiKeyView>;
  remove(id: string, actor: Actor): Promise<void>;
  /** Whom a presented key acts as, or undefined (unknown, wrong secret, expired). Constant time. */
  verify(secret: string): Promise<{ key: ApiKeyView; admin?: AdminView; user?: UserView } | undefined>;
}

/** Cookie sessions of logged-in admins and users, in the store so every node knows them. */
export interface LoginSessionService {
  /** A new session's token (random, 256 bits; only its hash is stored). */
  create(kind: 'admin' | 'user', subject: string, ttlSeconds: number): Promise<string>;
  verify(token: string): Promise<{ kind: 'admin' | 'user'; subject: string } | undefined>;
  remove(token: string): Promise<void>;
}

/**
 * Failed-login throttling and temporary bans per IP and per user (SFTPGo's defender), in the
 * store so every node sees them.
 */
export interface Defender {
  /** Banned until this time, or undefined. Checked before a password is even looked at. */
  bannedUntil(ip: string, username?: string): Promise<Date | undefined>;
  /** Count a failure; may start a ban. */
  failed(ip: string, username?: string): Promise<void>;
  /** A successful login clears the user's and the address's failures. */
  succeeded(ip: string, username: string): Promise<void>;
  /** Lift a ban (admin API). */
  unban(key: string, actor: Actor): Promise<void>;
  list(): Promise<{ key: string; failures: number; bannedUntil?: string }[]>;
}

/** One line of the audit log. */
export interface AuditEntry {
  kind: string;
  actor: string;
  protocol?: string;
  remote?: string;
  path?: string;
  targetPath?: string;
  bytes?: number;
  durationMs?: number;
  result: string;
  detail?: Record<string, unknown>;
}

export interface AuditLog {
  record(entry: AuditEntry): Promise<void>;
  list(
    filter?: Page & { kind?: string; actor?: string; since?: string },
  ): Promise<(AuditEntry & { at: string })[]>;
}

/**
 * Topics bumped by every change (`users`, `groups`, `connections`, `mounts`, `admins`,
 * `apikeys`, `defender`, `quota`). `changed` is called for changes made by this process and, on
 * PostgreSQL (LISTEN/NOTIFY) or by polling the `changes` table (SQLite, a CLI beside a server),
 * for changes made by other processes.
 */
export interface ChangeFeed {
  bump(topic: string): Promise<void>;
  subscribe(listener: (topic: string) => void): () => void;
  close(): Promise<void>;
}

/** A user as the session layer sees them: their settings merged with their groups', mounts included. */
export interface EffectiveUser {
  username: string;
  enabled: boolean;
  expiresAt?: Date;
  /** Where `/` is: the user's home, else their groups', else the server's default + username. */
  home: StorageTarget;
  /** Path → permissions, `*` expanded; always has an entry for `/`. */
  permissions: Record<string, PermissionName[]>;
  mounts: { path: string; target: StorageTarget; readOnly: boolean; permissions?: PermissionName[] }[];
  quota: { bytes?: number; files?: number };
  bandwidth: { uploadBytesPerSecond?: number; downloadBytesPerSecond?: number };
  maxSessions?: number;
  allowedIps: string[];
  deniedIps: string[];
  setstatMode: 'ignore' | 'refuse';
}

/** Everything src/accounts/ offers, opened on one store (accounts.ts `openAccounts`). */
export interface Accounts {
  users: UserService;
  groups: CrudService<GroupInput, GroupPatch, GroupView>;
  connections: ConnectionService;
  mounts: MountService;
  admins: AdminService;
  apiKeys: ApiKeyService;
  loginSessions: LoginSessionService;
  defender: Defender;
  audit: AuditLog;
  changes: ChangeFeed;
  close(): Promise<void>;
}
