import { AsyncLocalStorage } from 'node:async_hooks';
import pg from 'pg';
import { StorageError } from '../storage/errors.js';

/**
 * Bounds on a PostgreSQL store's connections, so a store that goes silent (packets dropped, not
 * refused) fails Ferry's calls within seconds instead of holding them until TCP gives up (~15
 * minutes). 0 turns a bound off.
 */
export interface StoreTimeouts {
  /** Opening a connection (TCP, TLS, login), and waiting for a free one of the pool. */
  connectTimeoutMs: number;
  /** One query's answer; a connection whose query timed out is dropped, never reused. */
  queryTimeoutMs: number;
}

export const defaultStoreTimeouts: StoreTimeouts = { connectTimeoutMs: 10_000, queryTimeoutMs: 60_000 };

/** Idle connections send TCP keepalives after this: a peer gone silent is found while idle. */
const KEEPALIVE_MS = 30_000;

const unbounded = new AsyncLocalStorage<true>();

/**
 * Run `fn` with no bound on its queries' answers: work that may rightly wait long, as the
 * migrations waiting on another node's advisory lock. Everything `fn` awaits is exempt.
 */
export function withoutQueryBound<T>(fn: () => Promise<T>): Promise<T> {
  return unbounded.run(true, fn);
}

/** What pg-pool reads (`_queryable`) to drop a released client instead of keeping it. */
interface ClientInternals {
  _queryable: boolean;
  connection?: { stream?: { destroy(): void } };
}

/**
 * A pg.Client class whose promise-returning queries fail (StorageError Transient) when no answer
 * came within the bound. pg's own `query_timeout` rejects but leaves the query active on the
 * connection, and Kysely then releases that connection to the pool as healthy: the next query on
 * it waits behind the lost one. Here a timed-out connection is marked unusable (pg-pool's
 * `_queryable`, so the pool drops it when it is released) and its socket destroyed.
 */
export function boundedClientClass(
  t: StoreTimeouts,
  display: string,
  live?: Set<pg.Client>,
): typeof pg.Client {
  const seconds = t.queryTimeoutMs / 1000;
  class BoundedClient extends pg.Client {
    constructor(config?: string | pg.ClientConfig) {
      const base = typeof config === 'string' ? { connectionString: config } : (config ?? {});
      super({
        ...base,
        connectionTimeoutMillis: t.connectTimeoutMs,
        keepAlive: true,
        keepAliveInitialDelayMillis: KEEPALIVE_MS,
      });
      // The socket destroyed below ends the client with an 'error' event; a client checked out of
      // the pool has no other listener then, and an unheard 'error' stops the process.
      this.on('error', () => {});
      live?.add(this);
      this.once('end', () => live?.delete(this));
    }

    // biome-ignore lint/suspicious/noExplicitAny: pg's query has many overloads; only one is bounded
    override query(...args: any[]): any {
      const call = (super.query as (...a: unknown[]) => unknown).bind(this);
      const callbackForm =
        typeof args[args.length - 1] === 'function' || typeof args[0]?.submit === 'function';
      if (callbackForm || t.queryTimeoutMs <= 0 || unbounded.getStore()) return call(...args);
      const answer = call(...args) as Promise<unknown>;
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          const self = this as unknown as ClientInternals;
          self._queryable = false;
          self.connection?.stream?.destroy();
          reject(
            new StorageError(
              'Transient',
              `PostgreSQL at ${display} did not answer within ${seconds} s (the query is abandoned, its connection dropped)`,
            ),
          );
        }, t.queryTimeoutMs);
      });
      return Promise.race([answer, timedOut]).finally(() => clearTimeout(timer));
    }
  }
  return BoundedClient as unknown as typeof pg.Client;
}

/** Destroy the socket of `client` (its goodbye unanswered, or its query lost). */
export function dropConnection(client: pg.Client): void {
  (client as unknown as ClientInternals).connection?.stream?.destroy();
}

/**
 * The connections of one store, every one bounded (see boundedClientClass): the pool's, and
 * LISTEN clients made with `Client`. A connection's goodbye (`end`) waits for the server's; a
 * store gone silent never sends it, and the open socket would keep the process from exiting:
 * `dropAll` destroys whatever is still open.
 */
export function storeConnections(url: string, display: string, t: StoreTimeouts) {
  const live = new Set<pg.Client>();
  const Client = boundedClientClass(t, display, live);
  const pool = new pg.Pool({
    connectionString: url,
    max: 10,
    Client,
    // Also the wait for a free connection when all ten are taken.
    connectionTimeoutMillis: t.connectTimeoutMs,
  });
  // What Kysely gets: the pool, whose failures to connect name the store (not pg's bare
  // "Connection terminated due to connection timeout").
  const named = {
    connect: () =>
      pool.connect().catch((err: Error) => {
        const timedOut = /timeout/i.test(err.message);
        throw new StorageError(
          'Transient',
          `cannot reach PostgreSQL at ${display}: ${timedOut ? `no connection within ${t.connectTimeoutMs / 1000} s` : err.message}`,
          { cause: err },
        );
      }),
    end: () => pool.end(),
  };
  return {
    pool,
    named,
    Client,
    dropAll: () => {
      for (const c of live) dropConnection(c);
    },
  };
}

/** Resolves after `ms` without holding the process open. */
export function pause(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}
