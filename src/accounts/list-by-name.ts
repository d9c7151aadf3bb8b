import type { Kysely, Selectable } from 'kysely';
import type { Page } from './types.js';
import { pageOf } from './validation.js';

/** The tables of `DB` keyed by a `name` column. */
export type NamedTable<DB> = {
  [T in keyof DB & string]: DB[T] extends { name: unknown } ? T : never;
}[keyof DB & string];

/**
 * One page of a table's rows in name order (`offset`, `limit` bounded by `pageOf`): the `list` of
 * every service whose records are keyed by name (groups, connections, sync jobs, event rules).
 */
export function listByName<DB, T extends NamedTable<DB>>(
  db: Kysely<DB>,
  table: T,
  page?: Page,
): Promise<Selectable<DB[T]>[]> {
  const { offset, limit } = pageOf(page);
  // Kysely cannot follow a generic table name through its query types: the query is typed on a
  // stand-in table `t` with a `name`, and the rows are the table's.
  const named = db as unknown as Kysely<{ t: { name: string } }>;
  return named
    .selectFrom(table as unknown as 't')
    .selectAll()
    .orderBy('name')
    .offset(offset)
    .limit(limit)
    .execute() as unknown as Promise<Selectable<DB[T]>[]>;
}
