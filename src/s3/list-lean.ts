import * as http from 'node:http';
import type * as https from 'node:https';
import { isIP } from 'node:net';
import type { ListObjectsV2CommandOutput } from '@aws-sdk/client-s3';
import type { AwsCredentialIdentity } from '@smithy/types';
import type { S3RequestObserver } from './client.js';
import type { S3Connection } from './connection.js';
import { leanEndpoint } from './lean-endpoint.js';
import { parseListObjectsV2 } from './list-xml.js';
import { canonicalQuery, EMPTY_SHA256, encodeSegment, signV4 } from './sigv4.js';

/**
 * ListObjectsV2 without the AWS SDK: one GET signed by sigv4.ts, sent over the connection's own
 * keep-alive agents (CA bundle, `--insecure`, socket pool), its answer parsed by list-xml.ts. So
 * `ferry ls` never loads the SDK (~0.5 s of CPU at start-up, sdk.ts) and a page costs no
 * middleware stack or schema walk.
 *
 * Like small-object.ts it only ever handles the success: an answer but a 200, a body list-xml.ts
 * does not fully understand, a network error — and the caller sends the same request through
 * the SDK, whose retries, redirects, clock-skew fix and errors then apply unchanged (a failure
 * costs one extra request; a LIST has no effect, so sending it twice is harmless).
 *
 * Used only where every setting is honoured here: an explicit non-AWS endpoint, Signature V4 with
 * credentials, no proxy, no FIPS, dual-stack or accelerate endpoint; `FERRY_LEAN_S3=0` turns it off.
 */
export interface LeanListTransport {
  endpoint: URL;
  pathStyle: boolean;
  region: string;
  agent: http.Agent;
  request: typeof http.request;
  credentials: () => Promise<AwsCredentialIdentity>;
  observer?: S3RequestObserver;
  /** No byte either way for this long gives the request up (client.ts `idleTimeoutMs`). */
  idleMs: number;
  /** Told of every request sent (set once the SDK client exists: tests count with it). */
  notify?: (operation: string) => void;
}

export interface LeanListOptions {
  conn: S3Connection;
  region: string;
  pathStyle: boolean;
  agents: { httpAgent: http.Agent; httpsAgent: https.Agent };
  /** Undefined: anonymous (unsigned) requests, which stay the SDK's. */
  credentials: (() => Promise<AwsCredentialIdentity>) | undefined;
  proxied: boolean;
  observer?: S3RequestObserver;
  /** node:https's request (the caller has the module loaded). */
  httpsRequest: typeof http.request;
  env: NodeJS.ProcessEnv;
  idleMs: number;
}

/** Pages listed on the lean path, and requests it handed to the SDK (process-wide; tests, bench). */
export const leanListStats = { pages: 0, handedToSdk: 0 };

/** The transport for `conn`, or undefined when the lean listing does not apply (see above). */
export function leanListTransport(o: LeanListOptions): LeanListTransport | undefined {
  const lean = leanEndpoint(o.conn, o.env, o.credentials !== undefined, o.proxied);
  if (!lean || !o.credentials) return undefined;
  const { endpoint, tls } = lean;
  return {
    endpoint,
    pathStyle: o.pathStyle,
    region: o.region,
    agent: tls ? o.agents.httpsAgent : o.agents.httpAgent,
    request: tls ? o.httpsRequest : http.request,
    credentials: o.credentials,
    observer: o.observer,
    idleMs: o.idleMs,
  };
}

export interface LeanListInput {
  Bucket: string;
  Prefix?: string;
  Delimiter?: string;
  ContinuationToken?: string;
  StartAfter?: string;
  MaxKeys?: number;
  RequestPayer?: 'requester';
}

/**
 * One ListObjectsV2 page on the lean path, or undefined when it did not get one (then send the
 * same input through the SDK). `clockOffsetMs` is the SDK's learned skew, if the SDK client exists.
 */
export async function leanListV2(
  t: LeanListTransport,
  input: LeanListInput,
  clockOffsetMs = 0,
  /** Ask for `Connection: close` (a small LIST on a store that stalls on reused connections). */
  close = false,
  /** Gives the request up (undefined is returned: the caller checks the signal before the SDK). */
  signal?: AbortSignal,
): Promise<ListObjectsV2CommandOutput | undefined> {
  if (signal?.aborted) return undefined;
  const { endpoint } = t;
  const hostname = endpoint.hostname.replace(/^\[|\]$/g, '');
  let host = endpoint.host;
  let connectTo = hostname;
  let path = '/';
  if (t.pathStyle) path = `/${encodeSegment(input.Bucket)}`;
  else {
    // Virtual-host style only for names that are valid host labels on a named host.
    if (!/^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/.test(input.Bucket) || isIP(hostname)) return handOver();
    host = `${input.Bucket}.${endpoint.host}`;
    connectTo = `${input.Bucket}.${hostname}`;
  }
  const query = canonicalQuery({
    'list-type': '2',
    prefix: input.Prefix,
    delimiter: input.Delimiter,
    'continuation-token': input.ContinuationToken,
    'start-after': input.StartAfter,
    'max-keys': input.MaxKeys === undefined ? undefined : String(input.MaxKeys),
  });
  const headers: Record<string, string> = { host };
  if (input.RequestPayer) headers['x-amz-request-payer'] = input.RequestPayer;
  let creds: AwsCredentialIdentity;
  try {
    creds = await t.credentials();
  } catch {
    return handOver(); // the SDK asks again and reports the failure its way
  }
  signV4('GET', path, headers, EMPTY_SHA256, creds, t.region, Date.now() + clockOffsetMs, query);
  if (close) headers.connection = 'close'; // hop-by-hop: not signed
  t.notify?.('ListObjectsV2');
  const started = performance.now();
  const answer = await new Promise<{ body: Buffer; res: http.IncomingMessage } | undefined>((resolve) => {
    let req: http.ClientRequest;
    try {
      req = t.request({
        protocol: endpoint.protocol,
        hostname: connectTo,
        port: endpoint.port || undefined,
        method: 'GET',
        path: `${path}?${query}`,
        headers,
        agent: t.agent,
      });
    } catch {
      resolve(undefined);
      return;
    }
    // The SDK handler's connection timeout (client.ts): a store that does not accept in 10 s.
    const connectTimer = setTimeout(() => req.destroy(new Error('connect timeout')), 10_000);
    req.on('socket', (s) => {
      if (!s.connecting) clearTimeout(connectTimer);
      else s.once('connect', () => clearTimeout(connectTimer));
    });
    // A store that takes the request and then says nothing: given up (the SDK asks again, with
    // its own timeout and retries).
    req.setTimeout(t.idleMs, () => req.destroy(new Error('idle timeout')));
    const onAbort = () => req.destroy(new Error('aborted'));
    signal?.addEventListener('abort', onAbort, { once: true });
    req.on('close', () => signal?.removeEventListener('abort', onAbort));
    req.on('error', () => {
      clearTimeout(connectTimer);
      resolve(undefined);
    });
    req.on('response', (res) => {
      clearTimeout(connectTimer);
      if (res.statusCode !== 200) {
        res.resume(); // the socket goes back to the pool; the SDK asks again
        resolve(undefined);
        return;
      }
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ body: Buffer.concat(chunks), res }));
      res.on('error', () => resolve(undefined));
      res.on('close', () => {
        if (!res.complete) resolve(undefined); // cut off mid-body
      });
    });
    req.end();
  });
  if (!answer) return handOver();
  const parsed = parseListObjectsV2(answer.body.toString('utf8'));
  if (!parsed) return handOver();
  leanListStats.pages++;
  t.observer?.({ operation: 'ListObjectsV2', durationMs: performance.now() - started });
  const requestId = answer.res.headers['x-amz-request-id'];
  return {
    ...parsed,
    $metadata: {
      httpStatusCode: 200,
      requestId: typeof requestId === 'string' ? requestId : undefined,
      attempts: 1,
      totalRetryDelay: 0,
    },
  };
}

function handOver(): undefined {
  leanListStats.handedToSdk++;
  return undefined;
}
