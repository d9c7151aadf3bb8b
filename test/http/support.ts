import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { openAccounts } from '../../src/accounts/accounts.js';
import type { Accounts, Actor } from '../../src/accounts/types.js';
import { openStore, type Store } from '../../src/db/database.js';
import { buildHttpApp } from '../../src/protocols/http/app.js';
import { createS3Client } from '../../src/s3/client.js';
import type { S3Connection } from '../../src/s3/connection.js';
import { createLogger } from '../../src/server/logger.js';
import { createMetrics, type FerryMetrics } from '../../src/server/metrics.js';
import { createSessionManager } from '../../src/session/session-manager.js';
import type { SessionManager } from '../../src/session/types.js';
import { ensureBucket, testConnection } from '../support/s3.js';

export const system: Actor = { kind: 'system', name: 'system', role: 'admin' };
export const ROOT = { username: 'root', password: 'root-password-1' };

export interface TestServer {
  base: string;
  app: FastifyInstance;
  accounts: Accounts;
  sessions: SessionManager & { ledger: { usage(u: string): Promise<{ bytes: number; files: number }> } };
  store: Store;
  metrics: FerryMetrics;
  /** Every JSON line the server logged. */
  logs: string[];
  /** The RGW connection `main` (users' homes default to main:homes/<username>). */
  conn: S3Connection;
  /** `METHOD /openapi/{style}` of every request answered (for the route-coverage check). */
  covered: Set<string>;
  /** An admin API key of `root` (Bearer). */
  rootKey: string;
  close(): Promise<void>;
}

/**
 * `ferry serve`'s HTTP server as the tests use it: a real SQLite store in a temp file, the real
 * account services and session layer, the connection `main` on the test RGW (a fresh prefix),
 * the app listening on 127.0.0.1:0, its pino output captured in `logs`.
 */
export async function startServer(
  options: { trustProxy?: boolean; idleTimeoutMs?: number; ready?: () => boolean } = {},
): Promise<TestServer> {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-http-'));
  const store = await openStore(join(dir, 'ferry.db'));
  const conn = testConnection();
  const client = createS3Client(conn);
  await ensureBucket(client, conn.bucket);
  client.destroy();
  const accounts = await openAccounts(store, {
    secretKey: randomBytes(32),
    defaultHome: { type: 's3', connection: 'main', prefix: 'homes' },
    changePollMs: 100,
  });
  await accounts.connections.create(
    {
      name: 'main',
      settings: {
        bucket: conn.bucket,
        prefix: conn.prefix,
        endpoint: conn.endpoint,
        region: conn.region,
        accessKeyId: conn.accessKeyId,
        secretAccessKey: conn.secretAccessKey,
      },
    },
    system,
  );
  await accounts.admins.create({ ...ROOT, role: 'admin' }, system);
  const { secret: rootKey } = await accounts.apiKeys.create(
    { name: 'root key', owner: { admin: 'root' } },
    system,
  );

  const metrics = createMetrics();
  const sessions = createSessionManager({
    accounts,
    store,
    s3ClientOptions: { observer: metrics.s3Observer },
  });
  metrics.attach(sessions);
  const logs: string[] = [];
  const logger = createLogger({ level: 'debug', destination: { write: (line: string) => logs.push(line) } });
  const app = buildHttpApp({
    accounts,
    sessions,
    metrics,
    logger,
    quotaUsage: (u) => sessions.ledger.usage(u),
    ready: options.ready ?? (() => true),
    trustProxy: options.trustProxy,
    idleTimeoutMs: options.idleTimeoutMs,
  });
  const covered = new Set<string>();
  app.addHook('onResponse', async (request) => {
    const url = request.routeOptions.url;
    if (url) covered.add(`${request.method} ${url.replace(/:(\w+)/g, '{$1}')}`);
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  if (!address || typeof address === 'string') throw new Error('no address');
  return {
    base: `http://127.0.0.1:${address.port}`,
    app,
    accounts,
    sessions,
    store,
    metrics,
    logs,
    conn,
    covered,
    rootKey,
    async close() {
      await app.close();
      await sessions.shutdown(0);
      await accounts.close();
      await store.close();
    },
  };
}

/** fetch JSON with a Bearer key (or none), returning status, headers and the parsed body. */
export async function call(
  base: string,
  method: string,
  path: string,
  options: { key?: string; body?: unknown; headers?: Record<string, string> } = {},
  // biome-ignore lint/suspicious/noExplicitAny: answers are checked field by field
): Promise<{ status: number; headers: Headers; body: any; text: string }> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.key) headers.authorization = `Bearer ${options.key}`;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${base}${path}`, {
    method,
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  const text = await res.text();
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  return { status: res.status, headers: res.headers, body, text };
}
