import { sql } from 'kysely';
import type { Store } from '../db/database.js';
import type { ChangeFeed } from './types.js';

/** The PostgreSQL channel every node LISTENs on; payload `topic:version`. */
export const CHANGES_CHANNEL = 'ferry_changes';

/**
 * The change feed: `bump(topic)` raises the topic's version in the `changes` table and tells every
 * listener. In this process listeners fire at once; other processes learn it by LISTEN/NOTIFY on
 * PostgreSQL (a dedicated connection, which on reconnect reports every topic, since notifications
 * sent while it was down are lost), or by polling the table every `pollMs` on SQLite (a CLI
 * writing the same file). Each topic's last seen version is kept so one change fires once.
 */
export class StoreChangeFeed implements ChangeFeed {
  readonly #listeners = new Set<(topic: string) => void>();
  readonly #seen = new Map<string, number>();
  #timer: NodeJS.Timeout | undefined;
  #unlisten: (() => Promise<void>) | undefined;
  #polling = false;
  #closed = false;

  private constructor(private readonly store: Store) {}

  static async open(store: Store, pollMs = 1000): Promise<StoreChangeFeed> {
    const feed = new StoreChangeFeed(store);
    await feed.#poll(false);
    if (store.dialect === 'postgres' && store.listen) {
      feed.#unlisten = await store.listen(
        CHANGES_CHANNEL,
        (payload) => feed.#notified(payload),
        () => void feed.#poll(true),
      );
    } else {
      feed.#timer = setInterval(() => void feed.#poll(true), pollMs);
      feed.#timer.unref();
    }
    return feed;
  }

  async bump(topic: string): Promise<void> {
    const rows = await sql<{ version: number }>`
      insert into changes (topic, version) values (${topic}, 1)
      on conflict (topic) do update set version = changes.version + 1
      returning version`.execute(this.store.db);
    const version = Number(rows.rows[0]?.version ?? 0);
    if (this.store.dialect === 'postgres')
      await sql`select pg_notify(${CHANGES_CHANNEL}, ${`${topic}:${version}`})`.execute(this.store.db);
    this.#saw(topic, version);
  }

  subscribe(listener: (topic: string) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    await this.#unlisten?.();
    this.#listeners.clear();
  }

  #notified(payload: string): void {
    const at = payload.lastIndexOf(':');
    if (at < 0) return;
    this.#saw(payload.slice(0, at), Number(payload.slice(at + 1)));
  }

  /** Fire listeners for `topic` unless this version (or a later one) was already reported. */
  #saw(topic: string, version: number): void {
    if ((this.#seen.get(topic) ?? 0) >= version) return;
    this.#seen.set(topic, version);
    this.#fire(topic);
  }

  #fire(topic: string): void {
    for (const listener of this.#listeners) {
      try {
        listener(topic);
      } catch {
        // A listener's failure is its own; the feed keeps going for the others.
      }
    }
  }

  async #poll(fire: boolean): Promise<void> {
    if (this.#polling || this.#closed) return;
    this.#polling = true;
    try {
      const rows = await this.store.db.selectFrom('changes').select(['topic', 'version']).execute();
      for (const r of rows) {
        if (fire) this.#saw(r.topic, Number(r.version));
        else this.#seen.set(r.topic, Number(r.version));
      }
    } catch {
      // The store is briefly unreachable (or closing): the next poll catches up.
    } finally {
      this.#polling = false;
    }
  }
}
