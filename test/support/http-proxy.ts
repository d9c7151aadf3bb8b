import * as http from 'node:http';
import { type AddressInfo, connect, type Socket } from 'node:net';

export interface TestProxy {
  /** `http://127.0.0.1:PORT` (no credentials). */
  url: string;
  port: number;
  /** CONNECT requests seen, as `host:port`. */
  connects: string[];
  /** Absolute-URI (forward proxy) requests seen, as `METHOD url`. */
  forwarded: string[];
  /** The Authorization scheme of each forwarded request (`AWS`, `AWS4-HMAC-SHA256`, `none`). */
  signatures: string[];
  /** Requests refused with 407 (missing or wrong Proxy-Authorization). */
  refused: number;
  close(): Promise<void>;
}

/**
 * A tiny real HTTP proxy on 127.0.0.1 for tests: CONNECT tunnels (for https endpoints) and
 * absolute-URI forwarding (for http endpoints), counting both. With `auth`, every request must
 * carry `Proxy-Authorization: Basic user:password`, else 407.
 */
export async function startTestProxy(auth?: { user: string; password: string }): Promise<TestProxy> {
  const expected = auth
    ? `Basic ${Buffer.from(`${auth.user}:${auth.password}`).toString('base64')}`
    : undefined;
  const sockets = new Set<Socket>();
  const agent = new http.Agent({ keepAlive: true });
  const state: TestProxy = {
    url: '',
    port: 0,
    connects: [],
    forwarded: [],
    signatures: [],
    refused: 0,
    close: async () => {
      for (const s of sockets) s.destroy();
      server.closeAllConnections();
      agent.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  const authorized = (req: http.IncomingMessage) =>
    !expected || req.headers['proxy-authorization'] === expected;

  const server = http.createServer((req, res) => {
    if (!authorized(req)) {
      state.refused++;
      req.resume();
      res.writeHead(407, { 'proxy-authenticate': 'Basic realm="test"' }).end();
      return;
    }
    let target: URL;
    try {
      target = new URL(req.url ?? '');
    } catch {
      res.writeHead(400).end('not an absolute URI: this is a proxy');
      return;
    }
    state.forwarded.push(`${req.method} ${req.url}`);
    state.signatures.push(req.headers.authorization?.split(' ')[0] ?? 'none');
    const { 'proxy-authorization': _, 'proxy-connection': __, ...headers } = req.headers;
    const up = http.request(
      {
        host: target.hostname,
        port: target.port,
        method: req.method,
        path: `${target.pathname}${target.search}`,
        headers,
        agent,
      },
      (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      },
    );
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  server.on('connect', (req: http.IncomingMessage, client: Socket, head: Buffer) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    if (!authorized(req)) {
      state.refused++;
      client.end(
        'HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="test"\r\n\r\n',
      );
      return;
    }
    state.connects.push(req.url ?? '');
    const [host, port] = (req.url ?? '').split(/:(?=\d+$)/);
    const upstream = connect(Number(port), host!.replace(/^\[|\]$/g, ''), () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    sockets.add(upstream);
    upstream.on('close', () => sockets.delete(upstream));
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.port = (server.address() as AddressInfo).port;
  state.url = `http://127.0.0.1:${state.port}`;
  return state;
}
