import type { Generated } from 'kysely';

/**
 * The tables of Ferry's store, as kysely sees them. One set for SQLite and PostgreSQL, so the
 * column types are the ones both agree on: text, integer (0/1 for booleans), and bigint counters
 * read back as numbers (database.ts sets pg's int8 parser). Times are ISO-8601 text in UTC, which
 * sorts as time does. Settings that only Ferry reads (a user's limits, a mount's target) are one
 * JSON text column validated by the zod schemas of src/accounts/model.ts on the way in and out,
 * so adding a setting needs no migration.
 */
export interface Database {
  users: UsersTable;
  groups: GroupsTable;
  user_groups: UserGroupsTable;
  connections: ConnectionsTable;
  mounts: MountsTable;
  admins: AdminsTable;
  api_keys: ApiKeysTable;
  login_sessions: LoginSessionsTable;
  audit_log: AuditLogTable;
  quota_usage: QuotaUsageTable;
  defender: DefenderTable;
  server_keys: ServerKeysTable;
  changes: ChangesTable;
  object_mtimes: ObjectMtimesTable;
  sync_jobs: SyncJobsTable;
  sync_job_runs: SyncJobRunsTable;
}

export interface UsersTable {
  username: string;
  /** scrypt hash (passwords.ts), null: no password login. */
  password_hash: string | null;
  /** 1 or 0. */
  enabled: number;
  expires_at: string | null;
  /** JSON: the user's own settings (model.ts `userSettingsSchema`). */
  settings: string;
  created_at: string;
  updated_at: string;
}

export interface GroupsTable {
  name: string;
  /** JSON: settings members inherit (model.ts `accountSettingsSchema`). */
  settings: string;
  created_at: string;
  updated_at: string;
}

export interface UserGroupsTable {
  username: string;
  group_name: string;
  /** Order in which the user's groups apply (lower first; later groups win on conflicts). */
  position: number;
}

export interface ConnectionsTable {
  name: string;
  /** JSON: the connection's settings without its secrets (model.ts `connectionSchema`). */
  settings: string;
  /** The secrets (secret key, session token, SSE-C key), encrypted (secret-box.ts); null: none. */
  secrets: string | null;
  created_at: string;
  updated_at: string;
}

export interface MountsTable {
  id: string;
  owner_kind: 'user' | 'group';
  owner_name: string;
  /** The virtual path in the owner's tree, `/a/b` form. */
  path: string;
  /** JSON: target and options (model.ts `mountSettingsSchema`). */
  settings: string;
  created_at: string;
  updated_at: string;
}

export interface AdminsTable {
  username: string;
  password_hash: string;
  role: string;
  created_at: string;
  updated_at: string;
}

export interface ApiKeysTable {
  id: string;
  name: string;
  /** SHA-256 (hex) of the key's secret part; the secret itself is shown once and never stored. */
  key_hash: string;
  /** Exactly one of admin_username / username is set: whom the key acts as. */
  admin_username: string | null;
  username: string | null;
  expires_at: string | null;
  created_at: string;
  last_used_at: string | null;
}

/** Logged-in browser/API sessions (cookie), shared by every node. */
export interface LoginSessionsTable {
  /** SHA-256 (hex) of the cookie's token. */
  id: string;
  kind: 'admin' | 'user';
  subject: string;
  expires_at: string;
  created_at: string;
}

export interface AuditLogTable {
  id: Generated<number>;
  at: string;
  /** login, login-failed, upload, download, delete, rename, mkdir, rmdir, admin, … */
  kind: string;
  /** Who: a username, `admin:NAME` or `apikey:ID`. */
  actor: string;
  protocol: string | null;
  remote: string | null;
  path: string | null;
  target_path: string | null;
  bytes: number | null;
  duration_ms: number | null;
  /** ok, or the StorageError code / failure kind. */
  result: string;
  /** JSON: anything else worth keeping (never a secret). */
  detail: string | null;
}

/** The quota ledger: what each user's files take, kept by the session layer. */
export interface QuotaUsageTable {
  username: string;
  bytes: number;
  files: number;
  updated_at: string;
}

/** Failed logins and bans per key (`ip:ADDRESS` or `user:NAME`), shared by every node. */
export interface DefenderTable {
  key: string;
  failures: number;
  window_start: string;
  banned_until: string | null;
}

/** Server-wide keys and values kept in the store: SSH host keys, the secret key's check value. */
export interface ServerKeysTable {
  name: string;
  value: string;
  created_at: string;
}

/**
 * A version per topic (`users`, `groups`, `connections`, `mounts`, `defender`, …), bumped by every
 * change: how a node (or a CLI on the same SQLite file) learns that its caches are stale.
 */
export interface ChangesTable {
  topic: string;
  version: number;
}

/** Client-set modification times of S3 objects, by scope (endpoint + bucket) and key (mtime-index.ts). */
export interface ObjectMtimesTable {
  scope: string;
  key: string;
  /** The object's ETag when the time was recorded, without quotes. */
  etag: string;
  /** ISO-8601, UTC. */
  mtime: string;
}

/** Sync jobs (src/jobs/): what to sync where, how and when. */
export interface SyncJobsTable {
  name: string;
  /** Locations as src/jobs/locations.ts resolves them (`CONNECTION:prefix`, `user:NAME/path`, a folder). */
  source: string;
  destination: string;
  /** JSON: SyncOptions without the signal (src/jobs/model.ts `jobSyncOptionsSchema`). */
  options: string;
  /** Cron pattern (UTC), null: run only when triggered. */
  schedule: string | null;
  /** 1 or 0. */
  enabled: number;
  description: string | null;
  created_at: string;
  updated_at: string;
}

/** One run of a sync job; UNIQUE (job, scheduled_for) is how one node of several claims a tick. */
export interface SyncJobRunsTable {
  id: string;
  job: string;
  node: string;
  /** `schedule` or `api`. */
  trigger: string;
  /** The tick (ISO, UTC) of a scheduled run; null for api runs. */
  scheduled_for: string | null;
  actor: string | null;
  /** running, ok, failed, refused, skipped. */
  status: string;
  started_at: string;
  /** Renewed by the running node; a running run whose heartbeat is older than the lease is failed. */
  heartbeat_at: string;
  ended_at: string | null;
  /** JSON `{ ok, detail? }`. */
  connection_test: string | null;
  /** JSON SyncSummary. */
  summary: string | null;
  bytes: Generated<number>;
  error: string | null;
  /** JSON `[{ path, error }]`, bounded. */
  errors: string | null;
  /** JSON counts by op/reason. */
  plan_summary: string | null;
  /** JSON: the first actions of a dry run's plan. */
  plan: string | null;
}
