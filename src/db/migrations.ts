import { type Kysely, type Migration, type MigrationProvider, sql } from 'kysely';
import { eventRulesMigration } from '../events/tables.js';

/**
 * Ferry's migrations, one list for SQLite and PostgreSQL, applied at start by `openDatabase`
 * (database.ts). Append; never edit one that has shipped. Each may branch on the dialect where
 * the two differ (auto-increment keys), nowhere else.
 */
export function migrationsFor(dialect: 'sqlite' | 'postgres'): MigrationProvider {
  const migrations: Record<string, Migration> = {
    '0001-accounts': {
      async up(db: Kysely<unknown>) {
        const text = 'text' as const;
        const big = dialect === 'postgres' ? ('bigint' as const) : ('integer' as const);
        await db.schema
          .createTable('users')
          .addColumn('username', text, (c) => c.primaryKey())
          .addColumn('password_hash', text)
          .addColumn('enabled', 'integer', (c) => c.notNull().defaultTo(1))
          .addColumn('expires_at', text)
          .addColumn('settings', text, (c) => c.notNull())
          .addColumn('created_at', text, (c) => c.notNull())
          .addColumn('updated_at', text, (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('groups')
          .addColumn('name', text, (c) => c.primaryKey())
          .addColumn('settings', text, (c) => c.notNull())
          .addColumn('created_at', text, (c) => c.notNull())
          .addColumn('updated_at', text, (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('user_groups')
          .addColumn('username', text, (c) => c.notNull().references('users.username').onDelete('cascade'))
          .addColumn('group_name', text, (c) => c.notNull().references('groups.name'))
          .addColumn('position', 'integer', (c) => c.notNull().defaultTo(0))
          .addPrimaryKeyConstraint('user_groups_pk', ['username', 'group_name'])
          .execute();
        await db.schema
          .createTable('connections')
          .addColumn('name', text, (c) => c.primaryKey())
          .addColumn('settings', text, (c) => c.notNull())
          .addColumn('secrets', text)
          .addColumn('created_at', text, (c) => c.notNull())
          .addColumn('updated_at', text, (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('mounts')
          .addColumn('id', text, (c) => c.primaryKey())
          .addColumn('owner_kind', text, (c) => c.notNull())
          .addColumn('owner_name', text, (c) => c.notNull())
          .addColumn('path', text, (c) => c.notNull())
          .addColumn('settings', text, (c) => c.notNull())
          .addColumn('created_at', text, (c) => c.notNull())
          .addColumn('updated_at', text, (c) => c.notNull())
          .addUniqueConstraint('mounts_owner_path', ['owner_kind', 'owner_name', 'path'])
          .execute();
        await db.schema
          .createTable('admins')
          .addColumn('username', text, (c) => c.primaryKey())
          .addColumn('password_hash', text, (c) => c.notNull())
          .addColumn('role', text, (c) => c.notNull())
          .addColumn('created_at', text, (c) => c.notNull())
          .addColumn('updated_at', text, (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('api_keys')
          .addColumn('id', text, (c) => c.primaryKey())
          .addColumn('name', text, (c) => c.notNull())
          .addColumn('key_hash', text, (c) => c.notNull())
          .addColumn('admin_username', text, (c) => c.references('admins.username').onDelete('cascade'))
          .addColumn('username', text, (c) => c.references('users.username').onDelete('cascade'))
          .addColumn('expires_at', text)
          .addColumn('created_at', text, (c) => c.notNull())
          .addColumn('last_used_at', text)
          .execute();
        await db.schema
          .createTable('login_sessions')
          .addColumn('id', text, (c) => c.primaryKey())
          .addColumn('kind', text, (c) => c.notNull())
          .addColumn('subject', text, (c) => c.notNull())
          .addColumn('expires_at', text, (c) => c.notNull())
          .addColumn('created_at', text, (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('audit_log')
          .addColumn('id', dialect === 'postgres' ? 'bigserial' : 'integer', (c) =>
            dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement(),
          )
          .addColumn('at', text, (c) => c.notNull())
          .addColumn('kind', text, (c) => c.notNull())
          .addColumn('actor', text, (c) => c.notNull())
          .addColumn('protocol', text)
          .addColumn('remote', text)
          .addColumn('path', text)
          .addColumn('target_path', text)
          .addColumn('bytes', big)
          .addColumn('duration_ms', 'integer')
          .addColumn('result', text, (c) => c.notNull())
          .addColumn('detail', text)
          .execute();
        await db.schema.createIndex('audit_log_at').on('audit_log').column('at').execute();
        await db.schema
          .createTable('quota_usage')
          .addColumn('username', text, (c) => c.primaryKey())
          .addColumn('bytes', big, (c) => c.notNull().defaultTo(0))
          .addColumn('files', big, (c) => c.notNull().defaultTo(0))
          .addColumn('updated_at', text, (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('defender')
          .addColumn('key', text, (c) => c.primaryKey())
          .addColumn('failures', 'integer', (c) => c.notNull())
          .addColumn('window_start', text, (c) => c.notNull())
          .addColumn('banned_until', text)
          .execute();
        await db.schema
          .createTable('server_keys')
          .addColumn('name', text, (c) => c.primaryKey())
          .addColumn('value', text, (c) => c.notNull())
          .addColumn('created_at', text, (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('changes')
          .addColumn('topic', text, (c) => c.primaryKey())
          .addColumn('version', big, (c) => c.notNull())
          .execute();
      },
    },
    /**
     * Modification times Ferry set on S3 objects (src/db/mtime-index.ts), so a listing shows them
     * without a HEAD per object. `scope` is the S3 endpoint + bucket, `key` the full object key,
     * `etag` the object's ETag when the time was recorded (another ETag: the record is stale).
     */
    '0002-object-mtimes': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('object_mtimes')
          .addColumn('scope', 'text', (c) => c.notNull())
          .addColumn('key', 'text', (c) => c.notNull())
          .addColumn('etag', 'text', (c) => c.notNull())
          .addColumn('mtime', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('object_mtimes_pk', ['scope', 'key'])
          .execute();
      },
    },
    /**
     * Sync jobs and their runs (src/jobs/). A scheduled run is claimed by inserting its row: the
     * UNIQUE (job, scheduled_for) lets one node of several win each tick, and the partial unique
     * index on (job) while `running` keeps a job from running twice at once (docs/jobs.md).
     */
    '0003-sync-jobs': {
      async up(db: Kysely<unknown>) {
        const big = dialect === 'postgres' ? ('bigint' as const) : ('integer' as const);
        await db.schema
          .createTable('sync_jobs')
          .addColumn('name', 'text', (c) => c.primaryKey())
          .addColumn('source', 'text', (c) => c.notNull())
          .addColumn('destination', 'text', (c) => c.notNull())
          .addColumn('options', 'text', (c) => c.notNull())
          .addColumn('schedule', 'text')
          .addColumn('enabled', 'integer', (c) => c.notNull().defaultTo(1))
          .addColumn('description', 'text')
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('sync_job_runs')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('job', 'text', (c) => c.notNull().references('sync_jobs.name').onDelete('cascade'))
          .addColumn('node', 'text', (c) => c.notNull())
          .addColumn('trigger', 'text', (c) => c.notNull())
          .addColumn('scheduled_for', 'text')
          .addColumn('actor', 'text')
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('started_at', 'text', (c) => c.notNull())
          .addColumn('heartbeat_at', 'text', (c) => c.notNull())
          .addColumn('ended_at', 'text')
          .addColumn('connection_test', 'text')
          .addColumn('summary', 'text')
          .addColumn('bytes', big, (c) => c.notNull().defaultTo(0))
          .addColumn('error', 'text')
          .addColumn('errors', 'text')
          .addColumn('plan_summary', 'text')
          .addColumn('plan', 'text')
          .addUniqueConstraint('sync_job_runs_tick', ['job', 'scheduled_for'])
          .execute();
        await db.schema
          .createIndex('sync_job_runs_job_started')
          .on('sync_job_runs')
          .columns(['job', 'started_at'])
          .execute();
        // One running run per job, on both stores (partial indexes: SQLite ≥ 3.8, PostgreSQL).
        await sql`create unique index sync_job_runs_one_running on sync_job_runs (job) where status = 'running'`.execute(
          db,
        );
      },
    },
    /** Event rules and their persisted delivery queue (src/events/tables.ts). */
    '0004-event-rules': eventRulesMigration(),
  };
  return { getMigrations: async () => migrations };
}
