import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import type { S3Client, S3ClientConfig } from '@aws-sdk/client-s3';
import { StorageError } from '../storage/errors.js';
import { paceBodyTimeout } from './body-idle.js';
import { isAwsEndpoint, type S3Connection } from './connection.js';
import { type CredentialOptions, credentialsFor, type ResolvedCredentials } from './credentials/chain.js';
import { markAnonymousErrors } from './errors.js';
import { type LeanListTransport, leanListTransport } from './list-lean.js';
import {
  ForwardingAgent,
  forwardsThroughProxy,
  type ProxyConfig,
  proxyConfig,
  TunnelingAgent,
} from './proxy.js';
import { nodeHttpHandler, s3Sdk } from './sdk.js';
import { sigV2Signer } from './sigv2.js';
import { enableSmallObjects, notifyLeanWatchers } from './small-object.js';
import { requireSseCustomerEcho } from './sse-check.js';

export interface S3ClientOptions extends CredentialOptions {
  /** Credentials already resolved for this connection (doctor shares them); default: the chain. */
  credentials?: ResolvedCredentials;
  /** Where the `--insecure` warning goes (default stderr). */
  warn?: (line: string) => void;
  /** Told about every HTTP request the client sends (each retry attempt too): metrics. */
  observer?: S3RequestObserver;
}

/**
 * One S3 request as metrics see it: the operation (`PutObject`), how long the attempt took, and
 * the error's name when it failed (`NoSuchKey`, `TimeoutError`). Never a key, bucket or secret.
 */
export type S3RequestObserver = (request: { operation: string; durationMs: number; error?: string }) => void;

/**
 * Make the S3 client for a connection. Decisions taken here, once:
 * - non-AWS endpoints get request/response checksums only when an operation requires them: the
 *   SDK's default aws-chunked uploads with CRC trailers break Ceph RGW, Swift, R2 and others;
 * - DeleteObjects carries Content-MD5, which several stores (RGW, Swift) insist on;
 * - path-style addressing by default for custom endpoints, virtual-host for AWS;
 * - keep-alive sockets, enough for the tree operations' concurrency;
 * - region redirects followed (a wrong region is then only one extra round trip);
 * - credentials from the chain (credentials/chain.ts), renewed ahead of expiry on every call;
 * - TLS: a custom CA bundle, or (explicitly, with a warning) no certificate check at all;
 * - AWS only: transfer acceleration and dual-stack endpoints;
 * - AWS Signature V4, or V2 for legacy stores when the connection says `signature: v2`;
 * - an HTTP(S) proxy when one applies (proxy.ts);
 * - a write asking for SSE-C fails (and leaves nothing) unless the store confirms it (sse-check.ts);
 * - small PUTs and GETs skip the SDK where the connection allows (small-object.ts).
 */
export function createS3Client(
  conn: S3Connection,
  env: NodeJS.ProcessEnv = process.env,
  options: S3ClientOptions = {},
): S3Client {
  return buildS3Client(prepare(conn, env, options));
}

/**
 * A client made on first use — the AWS SDK is loaded then (sdk.ts) — with what the lean listing
 * path (list-lean.ts) needs known at once, without the SDK. Settings are checked here as
 * createS3Client checks them (an unreadable CA bundle fails now, not at the first request).
 */
export interface LazyS3Client {
  /** The SDK client, made (and the SDK loaded) on the first call. */
  get(): S3Client;
  /** The client was made. */
  readonly made: boolean;
  /** ListObjectsV2 without the SDK, when the connection allows (list-lean.ts). */
  readonly leanList: LeanListTransport | undefined;
  /** Close the client, or only its sockets when it was never made. */
  destroy(): void;
}

export function lazyS3Client(
  conn: S3Connection,
  env: NodeJS.ProcessEnv = process.env,
  options: S3ClientOptions = {},
): LazyS3Client {
  const prepared = prepare(conn, env, options);
  let client: S3Client | undefined;
  const leanList = leanListTransport({
    conn,
    region: prepared.region,
    pathStyle: prepared.pathStyle,
    agents: prepared.agents,
    credentials: prepared.creds.provider,
    proxied: prepared.proxied,
    observer: options.observer,
    httpsRequest: https.request,
    env,
    idleMs: prepared.idleMs,
  });
  return {
    get: () => {
      if (!client) {
        const made = buildS3Client(prepared);
        // Lean LISTs are seen by the client's lean-request watchers too (test/support/count-ops.ts).
        if (leanList) leanList.notify = (operation) => notifyLeanWatchers(made, operation);
        client = made;
      }
      return client;
    },
    get made() {
      return client !== undefined;
    },
    leanList,
    destroy: () => {
      if (client) client.destroy();
      else {
        prepared.agents.httpAgent.destroy();
        prepared.agents.httpsAgent.destroy();
      }
    },
  };
}

/** Everything createS3Client decides before the SDK is needed. */
interface Prepared {
  conn: S3Connection;
  env: NodeJS.ProcessEnv;
  options: S3ClientOptions;
  aws: boolean;
  creds: ResolvedCredentials;
  proxies: ProxyConfig;
  proxied: boolean;
  agents: { httpAgent: http.Agent; httpsAgent: https.Agent };
  region: string;
  pathStyle: boolean;
  /** No byte either way for this long fails a request (`idleTimeoutMs`). */
  idleMs: number;
}

function prepare(conn: S3Connection, env: NodeJS.ProcessEnv, options: S3ClientOptions): Prepared {
  const aws = isAwsEndpoint(conn.endpoint);
  const maxSockets = Math.max(64, conn.concurrency * 2);
  const tls: https.AgentOptions = {};
  if (conn.caBundle) {
    try {
      tls.ca = readFileSync(conn.caBundle, 'utf8');
    } catch (err) {
      throw new StorageError(
        'InvalidArgument',
        `cannot read the CA bundle ${conn.caBundle}: ${(err as Error).message}`,
      );
    }
  }
  if (conn.insecureTls) {
    tls.rejectUnauthorized = false;
    (options.warn ?? ((l: string) => process.stderr.write(`${l}\n`)))(
      `ferry: warning: TLS certificate checks are OFF for ${conn.endpoint ?? 'AWS'} (--insecure): anyone on the path can read and change the data`,
    );
  }
  const creds = options.credentials ?? credentialsFor(conn, env, options);
  const proxies = proxiesFor(conn, env);
  const agents = agentsFor(proxies, maxSockets, tls);
  return {
    conn,
    env,
    options,
    aws,
    creds,
    proxies,
    proxied: proxies.http !== undefined || proxies.https !== undefined,
    agents,
    region: conn.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? 'us-east-1',
    pathStyle: conn.pathStyle ?? !aws,
    idleMs: idleTimeoutMs(env),
  };
}

function buildS3Client(p: Prepared): S3Client {
  const { conn, env, options, aws, creds, proxies, agents, idleMs } = p;
  const config: S3ClientConfig = {
    region: p.region,
    endpoint: conn.endpoint,
    forcePathStyle: p.pathStyle,
    followRegionRedirects: true,
    useAccelerateEndpoint: conn.accelerate,
    useDualstackEndpoint: conn.dualstack,
    requestHandler: new (nodeHttpHandler().NodeHttpHandler)({
      ...agents,
      connectionTimeout: 10_000,
      // A store that takes a request and then says nothing (nor reads the body) fails the attempt
      // after this silence, instead of hanging the transfer forever; the SDK retries it.
      socketTimeout: idleMs,
    }),
  };
  if (creds.provider) {
    config.credentials = creds.provider;
    // Legacy stores: AWS Signature V2 instead of V4 (sigv2.ts).
    if (conn.signature === 'v2')
      config.signer = sigV2Signer(
        creds.provider,
        conn.endpoint ? new URL(conn.endpoint).hostname : undefined,
      );
  } else {
    // Anonymous: public buckets. Requests go out unsigned.
    config.credentials = { accessKeyId: '', secretAccessKey: '' };
    config.signer = { sign: async (request) => request };
  }
  if (!aws) {
    config.requestChecksumCalculation = 'WHEN_REQUIRED';
    config.responseChecksumValidation = 'WHEN_REQUIRED';
  }
  const client = new (s3Sdk().S3Client)(config);
  if (!aws) addContentMd5ToDeleteObjects(client);
  requireSseCustomerEcho(client);
  paceBodyTimeout(client, idleMs);
  if (!creds.provider) markAnonymousErrors(client);
  if (proxies.http) dropExpectWhenForwarded(client, proxies);
  if (options.observer) observeRequests(client, options.observer);
  enableSmallObjects(client, {
    conn,
    region: p.region,
    pathStyle: p.pathStyle,
    agents,
    signed: creds.provider !== undefined,
    proxied: p.proxied,
    observer: options.observer,
    httpsRequest: https.request,
    env,
    idleMs,
  });
  return client;
}

/**
 * The keep-alive agents, going through the HTTP(S) proxy that applies (proxy.ts): a CONNECT
 * tunnel for https endpoints, a forward proxy for http ones; NO_PROXY hosts go direct.
 */
function agentsFor(
  proxies: ProxyConfig,
  maxSockets: number,
  tls: https.AgentOptions,
): { httpAgent: http.Agent; httpsAgent: https.Agent } {
  const httpOptions = { keepAlive: true, maxSockets };
  const httpsOptions = { ...httpOptions, ...tls };
  return {
    httpAgent: proxies.http
      ? new ForwardingAgent(httpOptions, proxies.http, proxies.noProxy)
      : new http.Agent(httpOptions),
    httpsAgent: proxies.https
      ? new TunnelingAgent(httpsOptions, proxies.https, proxies.noProxy)
      : new https.Agent(httpsOptions),
  };
}

function proxiesFor(conn: S3Connection, env: NodeJS.ProcessEnv): ProxyConfig {
  try {
    return proxyConfig(conn, env);
  } catch (err) {
    throw new StorageError('InvalidArgument', (err as Error).message);
  }
}

/**
 * Requests to an http endpoint through a forward proxy go without `Expect: 100-continue` (the
 * SDK adds it to large bodies): Node writes such headers before the agent can make the request
 * line an absolute URI, and many proxies mishandle 100-continue anyway. (Not a signed header.)
 */
function dropExpectWhenForwarded(client: S3Client, proxies: ProxyConfig): void {
  client.middlewareStack.add(
    (next) => async (args) => {
      const request = args.request as {
        protocol?: string;
        hostname?: string;
        port?: number;
        headers?: Record<string, string>;
      };
      if (
        request.protocol === 'http:' &&
        request.headers &&
        forwardsThroughProxy(proxies, request.hostname ?? '', request.port)
      ) {
        for (const k of Object.keys(request.headers))
          if (k.toLowerCase() === 'expect') delete request.headers[k];
      }
      return next(args);
    },
    { step: 'deserialize', name: 'ferryProxyNoExpect', priority: 'low' },
  );
}

/**
 * Time each attempt: the deserialize step runs inside the retry loop (finalizeRequest), once per
 * HTTP request sent, and sees its response or error.
 */
function observeRequests(client: S3Client, observer: S3RequestObserver): void {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const operation = (context.commandName ?? 'Unknown').replace(/Command$/, '');
      const started = performance.now();
      try {
        const out = await next(args);
        observer({ operation, durationMs: performance.now() - started });
        return out;
      } catch (err) {
        observer({
          operation,
          durationMs: performance.now() - started,
          error: (err as Error).name || 'Error',
        });
        throw err;
      }
    },
    { step: 'deserialize', name: 'ferryObserver', priority: 'high' },
  );
}

function addContentMd5ToDeleteObjects(client: S3Client): void {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const request = args.request as { headers?: Record<string, string>; body?: unknown };
      if (
        context.commandName === 'DeleteObjectsCommand' &&
        request.headers &&
        typeof request.body === 'string'
      ) {
        request.headers['content-md5'] = createHash('md5').update(request.body).digest('base64');
      }
      return next(args);
    },
    { step: 'build', name: 'ferryContentMd5', priority: 'low' },
  );
}

/**
 * How long a request to S3 may go without a byte either way before it is given up (ms):
 * 120 s, or FERRY_S3_IDLE_SECONDS. Long enough for a store's slow CompleteMultipartUpload or
 * server-side copy (AWS and RGW send keep-alive whitespace meanwhile).
 */
export function idleTimeoutMs(env: NodeJS.ProcessEnv): number {
  const s = Number(env.FERRY_S3_IDLE_SECONDS);
  return Number.isFinite(s) && s > 0 ? s * 1000 : 120_000;
}
