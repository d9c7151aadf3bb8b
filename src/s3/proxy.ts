import * as http from 'node:http';
import * as https from 'node:https';
import { isIP, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import * as tls from 'node:tls';

/**
 * HTTP(S) proxies for S3 traffic, as the AWS tools and curl read them:
 * - the connection's `proxy` setting wins; else `https_proxy`/`HTTPS_PROXY` for https endpoints
 *   and `http_proxy`/`HTTP_PROXY` for http ones (lower case first);
 * - `no_proxy`/`NO_PROXY` (comma- or space-separated: `*`, a host, `.domain` or `domain` for the
 *   domain and its subdomains, an IP, optionally `:port`) bypasses the proxy, for the setting too
 *   (curl's rule);
 * - https endpoints are reached through a CONNECT tunnel (TLS end to end, the proxy sees only
 *   host:port); http endpoints through a plain forward proxy (absolute-URI requests);
 * - proxy credentials in the URL (`http://user:pass@proxy:3128`) go in Proxy-Authorization
 *   (Basic) and nowhere else: messages name the proxy by `displayProxy`, without the password.
 * The decision is taken per connection of the agent (by target host), so region redirects and
 * virtual-host names are matched against NO_PROXY as they are used.
 */
export interface ProxyConfig {
  /** Proxy for https endpoints. */
  https?: URL;
  /** Proxy for http endpoints. */
  http?: URL;
  /** NO_PROXY entries, lower-cased. */
  noProxy: string[];
  /** Where the proxy came from: `connection setting`, `HTTPS_PROXY`, … */
  source?: string;
}

/** The proxies that apply, from the connection setting and the environment. */
export function proxyConfig(
  setting: { proxy?: string; proxyPassword?: string },
  env: NodeJS.ProcessEnv = process.env,
): ProxyConfig {
  const noProxy = (env.no_proxy ?? env.NO_PROXY ?? '')
    .split(/[\s,]+/)
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
  if (setting.proxy) {
    const url = withPassword(parseProxyUrl(setting.proxy, 'the proxy setting'), setting.proxyPassword);
    return { https: url, http: url, noProxy, source: 'connection setting' };
  }
  const pick = (names: string[]) => {
    for (const name of names) {
      const v = env[name];
      if (v) return { url: parseProxyUrl(v, name), name };
    }
    return undefined;
  };
  const s = pick(['https_proxy', 'HTTPS_PROXY']);
  const h = pick(['http_proxy', 'HTTP_PROXY']);
  return {
    https: s?.url,
    http: h?.url,
    noProxy,
    source: [s?.name, h?.name].filter(Boolean).join(', ') || undefined,
  };
}

function withPassword(url: URL, password: string | undefined): URL {
  if (password !== undefined && !url.password) url.password = encodeURIComponent(password);
  return url;
}

/** A proxy URL (a bare `host:port` means http://host:port, as curl takes it). */
export function parseProxyUrl(value: string, what: string): URL {
  const text = /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error(`${what}: not a proxy URL (http://[user:password@]host:port)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new Error(`${what}: only http:// and https:// proxies are supported, not ${url.protocol}`);
  return url;
}

/** The proxy as messages show it: scheme, user and host, never the password. */
export function displayProxy(url: URL): string {
  const user = url.username ? `${decodeURIComponent(url.username)}:***@` : '';
  return `${url.protocol}//${user}${url.host}`;
}

/** True when NO_PROXY says to go direct to host:port. */
export function bypassesProxy(host: string, port: number | string, noProxy: string[]): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  for (const entry of noProxy) {
    if (entry === '*') return true;
    let name = entry;
    let entryPort: string | undefined;
    const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(entry);
    if (m && !(isIP(entry) === 6)) {
      name = m[1]!.replace(/^\[|\]$/g, '');
      entryPort = m[2];
    }
    if (entryPort && entryPort !== String(port)) continue;
    if (isIP(h) || isIP(name)) {
      if (h === name) return true;
      continue;
    }
    const domain = name.replace(/^\*?\./, '');
    if (h === domain || h.endsWith(`.${domain}`)) return true;
  }
  return false;
}

/** An error reaching or going through the proxy: names it (without password), keeps the code. */
export class ProxyError extends Error {
  readonly code?: string;
  constructor(
    readonly proxy: string,
    message: string,
    code?: string,
  ) {
    super(message);
    this.name = 'ProxyError';
    this.code = code;
  }
}

function proxyAuthorization(url: URL): string | undefined {
  if (!url.username && !url.password) return undefined;
  const creds = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
  return `Basic ${Buffer.from(creds).toString('base64')}`;
}

function proxyPort(url: URL): number {
  return Number(url.port || (url.protocol === 'https:' ? 443 : 80));
}

function unreachable(proxy: URL, err: NodeJS.ErrnoException): ProxyError {
  return new ProxyError(
    displayProxy(proxy),
    `cannot reach the HTTP proxy ${displayProxy(proxy)}: ${err.message}`,
    err.code,
  );
}

type ConnectOptions = https.RequestOptions & { host?: string; port?: number | string };

/**
 * An https.Agent that tunnels through the proxy with CONNECT (keep-alive pools the tunnels like
 * direct sockets). TLS options (CA bundle, `--insecure`) apply to the S3 endpoint, end to end.
 */
export class TunnelingAgent extends https.Agent {
  constructor(
    options: https.AgentOptions,
    private readonly proxy: URL,
    private readonly noProxy: string[],
  ) {
    super(options);
  }

  override createConnection(
    options: ConnectOptions,
    callback?: (err: Error | null, stream: Duplex) => void,
  ): Duplex | undefined {
    const host = String(options.host ?? 'localhost');
    const port = Number(options.port ?? 443);
    const direct = https.Agent.prototype.createConnection as (o: unknown) => Socket;
    if (bypassesProxy(host, port, this.noProxy)) return direct.call(this, options);
    const target = `${isIP(host) === 6 ? `[${host}]` : host}:${port}`;
    const auth = proxyAuthorization(this.proxy);
    const connect = (this.proxy.protocol === 'https:' ? https : http).request({
      host: this.proxy.hostname.replace(/^\[|\]$/g, ''),
      port: proxyPort(this.proxy),
      method: 'CONNECT',
      path: target,
      setHost: false,
      headers: { host: target, ...(auth ? { 'proxy-authorization': auth } : {}) },
      agent: false,
    });
    let done = false;
    const finish = (err: Error | null, socket?: Socket) => {
      if (done) return;
      done = true;
      callback?.(err, socket as Duplex);
    };
    connect.once('connect', (res, socket, head) => {
      if (res.statusCode !== 200) {
        socket.destroy();
        finish(
          new ProxyError(
            displayProxy(this.proxy),
            `the HTTP proxy ${displayProxy(this.proxy)} refused to connect to ${target}: ${res.statusCode} ${res.statusMessage ?? ''}`.trim(),
            res.statusCode === 407 ? 'EPROXYAUTH' : undefined,
          ),
        );
        return;
      }
      if (head.length) socket.unshift(head);
      try {
        finish(null, direct.call(this, { ...options, socket }));
      } catch (err) {
        socket.destroy();
        finish(err as Error);
      }
    });
    connect.once('error', (err) => finish(unreachable(this.proxy, err)));
    connect.end();
    return undefined;
  }
}

type Req = http.ClientRequest & { _header?: string | null };

/** True when requests to this http URL go through the forward proxy (Expect must then go). */
export function forwardsThroughProxy(
  proxies: ProxyConfig,
  hostname: string,
  port: number | undefined,
): boolean {
  return proxies.http !== undefined && !bypassesProxy(hostname, port ?? 80, proxies.noProxy);
}

/**
 * An http.Agent that sends every request to the proxy with an absolute URI (a plain forward
 * proxy); hosts in NO_PROXY are reached directly.
 */
export class ForwardingAgent extends http.Agent {
  constructor(
    options: http.AgentOptions,
    private readonly proxy: URL,
    private readonly noProxy: string[],
  ) {
    super(options);
  }

  addRequest(req: Req, options: ConnectOptions & { ferryProxied?: boolean }): void {
    const host = String(options.host ?? 'localhost');
    const port = Number(options.port ?? 80);
    if (!bypassesProxy(host, port, this.noProxy)) {
      options.ferryProxied = true;
      const absolute = `http://${isIP(host) === 6 ? `[${host}]` : host}:${port}${req.path}`;
      const auth = proxyAuthorization(this.proxy);
      if (req._header) {
        // Node serializes (and queues) the headers in the constructor when Expect: 100-continue is
        // set, before the agent sees the request: too late for an absolute URI. The S3 client
        // drops Expect for proxied http requests (client.ts), so this is a programming error.
        req.destroy(new Error('a request with Expect: 100-continue cannot go through a forward proxy'));
        return;
      }
      if (auth) req.setHeader('proxy-authorization', auth);
      req.path = absolute;
    }
    // @ts-expect-error addRequest is public at run time but not in @types/node
    super.addRequest(req, options);
  }

  override createConnection(
    options: ConnectOptions & { ferryProxied?: boolean },
    callback?: (err: Error | null, stream: Duplex) => void,
  ): Duplex {
    const direct = http.Agent.prototype.createConnection as (o: unknown, cb?: unknown) => Socket;
    if (!options.ferryProxied) return direct.call(this, options, callback);
    const to = { host: this.proxy.hostname.replace(/^\[|\]$/g, ''), port: proxyPort(this.proxy) };
    const socket: Socket =
      this.proxy.protocol === 'https:'
        ? tls.connect({ ...to, servername: isIP(to.host) ? undefined : to.host })
        : direct.call(this, { ...options, ...to });
    // Name the proxy in the error the request will see (same object: later listeners get it).
    socket.prependListener('error', (err: NodeJS.ErrnoException) => {
      err.message = `cannot reach the HTTP proxy ${displayProxy(this.proxy)}: ${err.message}`;
      (err as { proxy?: string }).proxy = displayProxy(this.proxy);
    });
    return socket;
  }
}
