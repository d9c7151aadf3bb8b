import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';

/**
 * A fresh, empty database on the run's PostgreSQL cluster (postgres-setup.ts), for one test file
 * or one test: its URL, for `openStore`. Databases are left for the cluster's removal at the end.
 */
export async function freshPostgresUrl(): Promise<string> {
  const server = inject('postgres').url;
  const name = `ferry_${randomBytes(6).toString('hex')}`;
  const client = new pg.Client({ connectionString: server });
  await client.connect();
  try {
    await client.query(`create database ${name}`);
  } finally {
    await client.end();
  }
  const url = new URL(server);
  url.pathname = `/${name}`;
  return url.toString();
}
