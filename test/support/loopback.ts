import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Loopback {
  url: string;
  server: http.Server;
  close(): Promise<void>;
}

/** An HTTP server on 127.0.0.1 and a free port, for the protocol stand-ins (IMDS, ECS, proxies). */
export async function startLoopback(handler: http.RequestListener): Promise<Loopback> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export async function readBody(req: http.IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export interface ExpiryProxy extends Loopback {
  forwarded: number;
  /** Requests refused because their session token had passed its declared expiry. */
  rejected: number;
}

/**
 * A fault proxy in front of a real S3 endpoint that enforces short credential lifetimes the store
 * itself would not: requests whose `x-amz-security-token` is past the expiry `expiryOf` gives are
 * answered `400 ExpiredToken` (as S3 does); everything else is forwarded byte for byte, so the
 * store still checks the signature and the session token.
 */
export async function startExpiryProxy(
  target: string,
  expiryOf: (token: string) => number | undefined,
): Promise<ExpiryProxy> {
  const t = new URL(target);
  const proxy = (await startLoopback((req, res) => {
    const token = req.headers['x-amz-security-token'];
    const expiry = typeof token === 'string' ? expiryOf(token) : undefined;
    if (expiry !== undefined && Date.now() >= expiry) {
      p.rejected++;
      req.resume();
      res.writeHead(400, { 'content-type': 'application/xml' });
      res.end(
        '<?xml version="1.0" encoding="UTF-8"?><Error><Code>ExpiredToken</Code><Message>The provided token has expired.</Message></Error>',
      );
      return;
    }
    p.forwarded++;
    const up = http.request(
      { host: t.hostname, port: t.port, method: req.method, path: req.url, headers: req.headers },
      (upRes) => {
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        upRes.pipe(res);
      },
    );
    up.on('error', () => res.destroy());
    req.pipe(up);
  })) as ExpiryProxy;
  const p = proxy;
  p.forwarded = 0;
  p.rejected = 0;
  return p;
}

/** A body that yields `total` bytes in `chunk`-sized pieces, pausing `delayMs` between them. */
export async function* slowBody(
  total: number,
  chunk: number,
  delayMs: number,
  seed = 7,
): AsyncIterable<Buffer> {
  let sent = 0;
  let i = seed;
  while (sent < total) {
    const n = Math.min(chunk, total - sent);
    yield Buffer.alloc(n, i++ & 0xff);
    sent += n;
    await new Promise((r) => setTimeout(r, delayMs));
  }
}

/**
 * A proxy in front of a real S3 endpoint that rewrites response headers (a skewed Date, a
 * different x-amz-bucket-region) — the store's answers otherwise pass through unchanged.
 */
export async function startHeaderProxy(
  target: string,
  rewrite: (headers: http.IncomingHttpHeaders, req: http.IncomingMessage) => http.IncomingHttpHeaders,
): Promise<Loopback> {
  const t = new URL(target);
  return startLoopback((req, res) => {
    const up = http.request(
      { host: t.hostname, port: t.port, method: req.method, path: req.url, headers: req.headers },
      (upRes) => {
        res.writeHead(upRes.statusCode ?? 502, rewrite({ ...upRes.headers }, req));
        upRes.pipe(res);
      },
    );
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
}
