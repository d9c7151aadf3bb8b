import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, Migrator, PostgresDialect, type RawBuilder, SqliteDialect, sql } from 'kysely';
import pg from 'pg';
import { StorageError } from '../storage/errors.js';
import { migrationsFor } from './migrations.js';
import {
  defaultStoreTimeouts,
  dropConnection,
  pause,
  type StoreTimeouts,
  storeConnections,
  withoutQueryBound,
} from './pg-bounds.js';
import type { Database } from './schema.js';

export type Dialect = 'sqlite' | 'postgres';

/** An open store: the kysely instance over SQLite or PostgreSQL, migrated to the latest schema. */
export interface Store {
  readonly db: Kysely<Database>;
  readonly dialect: Dialect;
  /** The URL or file it was opened from, with any password removed (for messages and logs). */
  readonly display: string;
  /**
   * PostgreSQL only: LISTEN on `channel` over a dedicated connection (kept apart from the pool).
   * `onNotify` gets each payload; after a lost connection is re-established `onReconnect` is
   * called, since notifications sent meanwhile are gone. Returns the function that stops it.
   */
  listen?(
    channel: string,
    onNotify: (payload: string) => void,
    onReconnect: () => void,
  ): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

// Counters are bigint in PostgreSQL; pg hands int8 back as a string unless told otherwise. Ferry's
// counters (bytes, files) stay far below 2^53.
pg.types.setTypeParser(20, (v) => Number.parseInt(v, 10));

/**
 * Open the store named by `location`: a `postgres://` / `postgresql://` URL, or a SQLite file path
 * (`sqlite:` prefix optional; the folder is created). Applies the migrations (migrations.ts) before
 * returning; several nodes starting at once on one PostgreSQL serialise on an advisory lock, so
 * exactly one of them migrates. PostgreSQL's connections and queries are bounded by `timeouts`
 * (pg-bounds.ts; the migrations, waiting on that lock, are not).
 */
export async function openStore(location: string, timeouts: Partial<StoreTimeouts> = {}): Promise<Store> {
  if (/^postgres(ql)?:\/\//i.test(location))
    return openPostgres(location, { ...defaultStoreTimeouts, ...timeouts });
  const file = resolve(location.replace(/^sqlite:(\/\/)?/i, ''));
  mkdirSync(dirname(file), { recursive: true });
  let database: SQLite.Database;
  try {
    database = new SQLite(file);
  } catch (err) {
    throw new StorageError(
      'InvalidArgument',
      `cannot open the SQLite store ${file}: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
  // WAL: readers don't block the writer, so a CLI on the same file works while a server runs;
  // busy_timeout makes a writer wait for the other process instead of failing at once.
  database.pragma('journal_mode = WAL');
  database.pragma('busy_timeout = 5000');
  database.pragma('foreign_keys = ON');
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database }) });
  await migrate(db, 'sqlite');
  return { db, dialect: 'sqlite', display: file, close: () => db.destroy() };
}

async function openPostgres(url: string, timeouts: StoreTimeouts): Promise<Store> {
  const display = redactUrl(url);
  const connections = storeConnections(url, display, timeouts);
  const { pool } = connections;
  // An idle connection the server ends (restart, failover, pg_terminate_backend) is dropped by
  // the pool, which then emits 'error': without a listener that stops the process. The next
  // query opens a new connection, or fails with its own error where it is awaited.
  pool.on('error', () => {});
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool: connections.named }) });
  try {
    await sql`select 1`.execute(db);
  } catch (err) {
    await db.destroy();
    if (StorageError.is(err)) throw err; // names the store already
    throw new StorageError('Transient', `cannot reach PostgreSQL at ${display}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  // Kysely's own migration lock is taken after it creates its bookkeeping tables; two nodes
  // creating them at once can collide in PostgreSQL's catalog. One session-level advisory lock
  // around the whole migration makes concurrent starts take turns.
  // Waiting on the lock while another node migrates is not a silent store: no query bound here.
  await withoutQueryBound(() =>
    db.connection().execute(async (conn) => {
      await sql`select pg_advisory_lock(${MIGRATION_LOCK})`.execute(conn);
      try {
        await migrate(conn, 'postgres');
      } finally {
        await sql`select pg_advisory_unlock(${MIGRATION_LOCK})`.execute(conn);
      }
    }),
  ).catch(async (err) => {
    await db.destroy();
    throw err;
  });
  return {
    db,
    dialect: 'postgres',
    display,
    listen: (channel, onNotify, onReconnect) =>
      listenPostgres(url, connections.Client, channel, onNotify, onReconnect),
    close: async () => {
      // Waits for the connections in use (each query is bounded); the idle ones say goodbye,
      // which a silent store never answers: their sockets are destroyed after a while.
      await db.destroy();
      void pause(GOODBYE_MS).then(connections.dropAll);
    },
  };
}

/** A dedicated LISTEN client that reconnects (every second) until stopped. */
async function listenPostgres(
  url: string,
  Client: typeof pg.Client,
  channel: string,
  onNotify: (payload: string) => void,
  onReconnect: () => void,
): Promise<() => Promise<void>> {
  let stopped = false;
  let client: pg.Client | undefined;
  let retry: NodeJS.Timeout | undefined;
  // Bounded like the pool's (keepalives find a store gone silent while it only listens).
  const connect = async (): Promise<void> => {
    const c = new Client({ connectionString: url });
    c.on('notification', (n) => {
      if (n.channel === channel && n.payload !== undefined) onNotify(n.payload);
    });
    c.on('error', () => {
      // The connection broke (server restart, network): drop it and try again.
      if (client === c) client = undefined;
      void c.end().catch(() => {});
      schedule();
    });
    await c.connect();
    await c.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
    if (stopped) {
      await c.end();
      return;
    }
    client = c;
  };
  const schedule = () => {
    if (stopped || retry) return;
    retry = setTimeout(() => {
      retry = undefined;
      connect().then(onReconnect, schedule);
    }, 1000);
    retry.unref();
  };
  await connect();
  return async () => {
    stopped = true;
    if (retry) clearTimeout(retry);
    const c = client;
    client = undefined;
    if (!c) return;
    // Its goodbye waits for the server's, which a silent store never sends.
    await Promise.race([c.end().catch(() => {}), pause(GOODBYE_MS)]);
    dropConnection(c);
  };
}

/** How long a closing connection's goodbye may go unanswered before its socket is destroyed. */
const GOODBYE_MS = 2000;

/** An arbitrary constant naming Ferry's migration lock among the cluster's advisory locks. */
const MIGRATION_LOCK = 0x4665727279; // "Ferry"

async function migrate(db: Kysely<Database>, dialect: Dialect): Promise<void> {
  const migrator = new Migrator({ db, provider: migrationsFor(dialect) });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName;
    throw new StorageError(
      'Transient',
      `store migration ${failed ?? ''} failed: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
}

/** `postgres://user:secret@host/db` → `postgres://user:***@host/db`. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url.replace(/\/\/([^:/@]*):[^@]*@/, '//$1:***@');
  }
}

/** Now as the store keeps times (ISO-8601, UTC). */
export function nowIso(): string {
  return new Date().toISOString();
}

/**
 * The database's clock plus `plusMs`, as ISO-8601 text in toISOString's format (so it compares
 * as text with nowIso's): leases and due times written and judged with it agree on every node,
 * whatever each node's own clock says.
 */
export function dbNowIso(dialect: Dialect, plusMs = 0): RawBuilder<string> {
  const seconds = Math.round(plusMs) / 1000;
  return dialect === 'postgres'
    ? sql<string>`to_char((statement_timestamp() + make_interval(secs => ${seconds}::float8)) at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`
    : sql<string>`strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ${`${seconds >= 0 ? '+' : ''}${seconds} seconds`})`;
}
