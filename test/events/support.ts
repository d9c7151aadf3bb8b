import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Actor } from '../../src/accounts/types.js';
import { loadServerConfig } from '../../src/server/config.js';
import { type RunningServer, startServer } from '../../src/server/serve.js';

export const SYSTEM: Actor = { kind: 'system', name: 'system', role: 'admin' };
export const ADMIN_PASSWORD = 'events-admin-password';

/** Backoff settings that make a minute-long outage cheap in a test (docs/events.md). */
export const FAST_RETRIES = {
  FERRY_EVENTS__POLL_MILLISECONDS: '50',
  FERRY_EVENTS__RETRY_BASE_MILLISECONDS: '50',
  FERRY_EVENTS__RETRY_MAX_MILLISECONDS: '400',
  FERRY_EVENTS__MAX_ATTEMPTS: '1000',
};

/**
 * `ferry serve` in this process (startServer, as the CLI runs it): a data folder, a SQLite store
 * (or `database`), HTTP on 127.0.0.1:0, no SFTP, with `env` as its FERRY_* settings.
 */
export async function startFerry(
  env: Record<string, string>,
  data = mkdtempSync(join(tmpdir(), 'ferry-events-')),
): Promise<{ server: RunningServer; url: string; data: string; env: NodeJS.ProcessEnv }> {
  const full: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    FERRY_ADMIN_PASSWORD: ADMIN_PASSWORD,
    FERRY_SFTP: 'off',
    FERRY_LOG_LEVEL: 'silent',
    ...env,
  };
  const config = loadServerConfig({ data, http: '127.0.0.1:0' }, full);
  const server = await startServer(config, { env: full });
  return { server, url: server.listeners[0]?.url as string, data, env: full };
}

/** PUT a file through the user's HTTP file API. */
export async function upload(url: string, user: string, password: string, path: string, body: string) {
  const res = await fetch(`${url}/api/v1/user/files/content?path=${encodeURIComponent(path)}`, {
    method: 'PUT',
    headers: { authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` },
    body,
  });
  if (res.status !== 201) throw new Error(`upload ${path}: HTTP ${res.status} ${await res.text()}`);
}

export interface Received {
  headers: IncomingHttpHeaders;
  body: string;
  /** The status answered (0: not answered, the receiver was hanging). */
  status: number;
  /** When the request's body had arrived (Date.now()). */
  at: number;
}

/**
 * A webhook receiver on loopback: records every POST; `down()` closes the port (connections are
 * refused), `up()` listens again on the same port.
 */
export class Receiver {
  readonly received: Received[] = [];
  #server: Server | undefined;
  port = 0;
  /** Answer with this status (200 by default). */
  status = 200;
  /** Answer nothing (the request hangs until the sender gives up or `down()`). */
  hang = false;

  async up(): Promise<void> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const status = this.hang ? 0 : this.status;
        const body = Buffer.concat(chunks).toString('utf8');
        this.received.push({ headers: req.headers, body, status, at: Date.now() });
        if (status) res.writeHead(status).end();
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.#server = server;
  }

  async down(): Promise<void> {
    const s = this.#server;
    this.#server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/hook`;
  }

  /** Deliveries by id (X-Ferry-Delivery) → how many times each came (`only`: which requests). */
  counts(only: (r: Received) => boolean = () => true): Map<string, number> {
    const m = new Map<string, number>();
    for (const r of this.received.filter(only)) {
      const id = r.headers['x-ferry-delivery'] as string;
      m.set(id, (m.get(id) ?? 0) + 1);
    }
    return m;
  }
}

/** Wait until `check` holds (deliveries are asynchronous), failing with `what` after `ms`. */
export async function eventually(check: () => boolean | Promise<boolean>, what: string, ms = 30_000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`never true: ${what}`);
}

export const randomName = (base: string) => `${base}-${randomBytes(3).toString('hex')}`;
