import { createHash } from 'node:crypto';
import * as http from 'node:http';
import type * as https from 'node:https';
import { isIP } from 'node:net';
import type { Readable } from 'node:stream';
import type { GetObjectCommandInput, PutObjectCommandInput, S3Client } from '@aws-sdk/client-s3';
import type { S3RequestObserver } from './client.js';
import type { S3Connection } from './connection.js';
import { leanEndpoint } from './lean-endpoint.js';
import { EMPTY_SHA256, encodePath, encodeSegment, signV4 } from './sigv4.js';

/**
 * The lean path for small objects: one signed PutObject or GetObject sent straight over the
 * client's own keep-alive agents (so its CA bundle, `--insecure` and socket pool apply), without
 * the SDK's middleware stack, endpoint ruleset, schema serialisation and retry bookkeeping —
 * ~5 ms of CPU per small file on a loaded machine, most of what a 16 KiB `ferry sync` costs.
 *
 * It only ever handles the success: any answer but a 2xx, any network error, any setting it does
 * not know, and the request is handed to the SDK, which sends it again with its own retries and
 * errors (so errors, retries, region redirects, clock-skew correction and the SSE-C echo check
 * are exactly the SDK path's; a failure costs one extra request). A single PUT is atomic, a GET
 * has no effect: sending either twice leaves nothing half-done.
 *
 * Used only where every connection setting is honoured here: an explicit non-AWS endpoint (no
 * endpoint ruleset), Signature V4 with credentials, no proxy, no FIPS or dual-stack endpoint.
 * Every other connection keeps the SDK for every request.
 */

export interface Lean {
  endpoint: URL;
  pathStyle: boolean;
  region: string;
  agent: http.Agent;
  request: typeof http.request;
  observer?: S3RequestObserver;
  /** A request silent this long (no byte either way) is given up (client.ts idleTimeoutMs). */
  idleMs: number;
  /** Lean GETs started and not yet read to the end or dropped (see `KEEP_ALIVE_FROM`). */
  gets: number;
  /** Settled on first use: the SDK config flags that would make the SDK pick another endpoint. */
  usable?: Promise<boolean>;
}

const leans = new WeakMap<S3Client, Lean>();
const watchers = new WeakMap<S3Client, ((operation: string) => void)[]>();

/**
 * Call `fn` with the operation (`PutObject`) of every request the lean path sends for `client`,
 * as a middleware sees the SDK's (tests count what an operation costs with both).
 */
export function watchLeanRequests(client: S3Client, fn: (operation: string) => void): void {
  watchers.set(client, [...(watchers.get(client) ?? []), fn]);
}

/** Tell `client`'s watchers of a request sent for it by another lean path (list-lean.ts). */
export function notifyLeanWatchers(client: S3Client, operation: string): void {
  for (const fn of watchers.get(client) ?? []) fn(operation);
}

/**
 * Requests answered on the lean path, and those handed to the SDK after the lean path tried;
 * `closedGets`: lean GETs sent with `Connection: close` (process-wide; for tests and benchmarks).
 */
export const smallObjectStats = { put: 0, get: 0, handedToSdk: 0, closedGets: 0 };

export interface LeanOptions {
  conn: S3Connection;
  region: string;
  pathStyle: boolean;
  agents: { httpAgent: http.Agent; httpsAgent: https.Agent };
  /** Requests are signed (false: anonymous). */
  signed: boolean;
  /** An HTTP(S) proxy is configured. */
  proxied: boolean;
  observer?: S3RequestObserver;
  /** node:https's request (the caller has the module loaded). */
  httpsRequest: typeof http.request;
  /** `FERRY_LEAN_S3=0`: the SDK for every request (benchmarks, bisecting a store's quirk). */
  env: NodeJS.ProcessEnv;
  idleMs: number;
}

/** Turn the lean path on for `client` when its connection allows (see above). */
export function enableSmallObjects(client: S3Client, o: LeanOptions): void {
  const lean = leanEndpoint(o.conn, o.env, o.signed, o.proxied);
  if (!lean) return;
  const { endpoint, tls } = lean;
  leans.set(client, {
    endpoint,
    pathStyle: o.pathStyle,
    region: o.region,
    agent: tls ? o.agents.httpsAgent : o.agents.httpAgent,
    request: tls ? o.httpsRequest : http.request,
    observer: o.observer,
    idleMs: o.idleMs,
    gets: 0,
  });
}

/**
 * From this many lean GETs in flight on one client, a GET asked to `close` keeps its connection.
 * RGW answers a small GET on a reused connection ~40 ms late (it writes the headers and the body
 * separately, Nagle holds the body until the client ACKs the headers, and the client delays that
 * ACK: a fresh connection is still in quick-ACK mode). One read at a time pays that wait in full,
 * so a fresh connection is cheaper; with many reads at once the wait overlaps the others' work
 * and a fresh connection per GET only costs CPU (a connect and an accept each, on both sides):
 * 1,000 GETs of 16 KiB with 16 in flight took 3.8–4.7 s and 0.56–0.65 ms CPU per GET kept alive,
 * 4.3–6.2 s and 0.80–1.03 ms closed; with 4 in flight closing won (2.3–5.2 s vs 8.0 s).
 */
export const KEEP_ALIVE_FROM = 8;

/** Headers of a PutObject input, or undefined when it has a field the lean path does not send. */
function putHeaders(input: PutObjectCommandInput, body: Buffer): Record<string, string> | undefined {
  const h: Record<string, string> = { 'content-length': String(body.length) };
  for (const [name, value] of Object.entries(input)) {
    if (value === undefined) continue;
    switch (name) {
      case 'Bucket':
      case 'Key':
      case 'Body':
        break;
      case 'ContentLength':
        if (value !== body.length) return undefined;
        break;
      case 'ContentType':
        h['content-type'] = value;
        break;
      case 'CacheControl':
        h['cache-control'] = value;
        break;
      case 'StorageClass':
        h['x-amz-storage-class'] = value;
        break;
      case 'ACL':
        h['x-amz-acl'] = value;
        break;
      case 'ServerSideEncryption':
        h['x-amz-server-side-encryption'] = value;
        break;
      case 'SSEKMSKeyId':
        h['x-amz-server-side-encryption-aws-kms-key-id'] = value;
        break;
      case 'RequestPayer':
        h['x-amz-request-payer'] = value;
        break;
      case 'IfNoneMatch':
        h['if-none-match'] = value;
        break;
      case 'Metadata':
        for (const [k, v] of Object.entries(value as Record<string, string>))
          h[`x-amz-meta-${k.toLowerCase()}`] = v;
        break;
      default:
        if (!sseCustomer(name, value, h)) return undefined;
    }
  }
  return h;
}

/** Headers of a GetObject input, or undefined when it has a field the lean path does not send. */
export function getHeaders(input: GetObjectCommandInput): Record<string, string> | undefined {
  const h: Record<string, string> = {};
  for (const [name, value] of Object.entries(input)) {
    if (value === undefined) continue;
    if (name === 'Bucket' || name === 'Key') continue;
    if (name === 'Range') h.range = value;
    else if (name === 'IfMatch') h['if-match'] = value;
    else if (name === 'RequestPayer') h['x-amz-request-payer'] = value;
    else if (!sseCustomer(name, value, h)) return undefined;
  }
  return h;
}

function sseCustomer(name: string, value: string, h: Record<string, string>): boolean {
  if (name === 'SSECustomerAlgorithm') h['x-amz-server-side-encryption-customer-algorithm'] = value;
  else if (name === 'SSECustomerKey') {
    h['x-amz-server-side-encryption-customer-key'] = value;
    h['x-amz-server-side-encryption-customer-key-md5'] = md5Base64(Buffer.from(value, 'base64'));
  } else return false;
  return true;
}

function md5Base64(b: Buffer): string {
  return createHash('md5').update(b).digest('base64');
}

export interface Target {
  lean: Lean;
  /** The Host header (with the port when not the default) and the name connected to. */
  host: string;
  hostname: string;
  path: string;
}

/** Where a lean request for `bucket`/`key` goes; undefined when the lean path is not usable. */
export async function targetOf(client: S3Client, bucket: string, key: string): Promise<Target | undefined> {
  const lean = leans.get(client);
  if (!lean) return undefined;
  lean.usable ??= Promise.all([client.config.useFipsEndpoint(), client.config.useDualstackEndpoint()]).then(
    ([fips, dual]) => !fips && !dual,
    () => false,
  );
  if (!(await lean.usable)) return undefined;
  const { endpoint } = lean;
  const hostname = endpoint.hostname.replace(/^\[|\]$/g, '');
  if (lean.pathStyle)
    return { lean, host: endpoint.host, hostname, path: `/${encodeSegment(bucket)}/${encodePath(key)}` };
  // Virtual-host style only for names that are valid host labels on a named host (the SDK goes
  // its own way otherwise).
  if (!/^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/.test(bucket) || isIP(hostname)) return undefined;
  return {
    lean,
    host: `${bucket}.${endpoint.host}`,
    hostname: `${bucket}.${hostname}`,
    path: `/${encodePath(key)}`,
  };
}

/**
 * Tell `client`'s watchers of the request and sign it with the client's current credentials (its
 * provider chain, refreshed as the SDK's are) and clock-skew correction: adds `host` and the
 * SigV4 headers to `headers`.
 */
export async function signLean(
  client: S3Client,
  t: Target,
  method: 'PUT' | 'GET',
  headers: Record<string, string>,
  payloadSha256: string,
): Promise<void> {
  for (const fn of watchers.get(client) ?? []) fn(method === 'PUT' ? 'PutObject' : 'GetObject');
  const creds = await client.config.credentials();
  headers.host = t.host;
  const offset = (client.config as { systemClockOffset?: number }).systemClockOffset ?? 0;
  signV4(method, t.path, headers, payloadSha256, creds, t.lean.region, Date.now() + offset);
}

interface Sent {
  res: http.IncomingMessage;
  started: number;
}

/** Send one signed request; undefined when it could not be sent or was not answered (not a 2xx). */
async function send(
  client: S3Client,
  t: Target,
  method: 'PUT' | 'GET',
  headers: Record<string, string>,
  payloadSha256: string,
  body: Buffer | undefined,
  signal: AbortSignal | undefined,
  unsigned: Record<string, string> = {},
  onLost?: () => void,
): Promise<Sent | undefined> {
  await signLean(client, t, method, headers, payloadSha256);
  const started = performance.now();
  return new Promise<Sent | undefined>((resolve, reject) => {
    let req: http.ClientRequest;
    try {
      req = t.lean.request({
        protocol: t.lean.endpoint.protocol,
        hostname: t.hostname,
        port: t.lean.endpoint.port || undefined,
        method,
        path: t.path,
        headers: { ...headers, ...unsigned },
        agent: t.lean.agent,
        signal,
      });
    } catch {
      resolve(undefined); // e.g. a header value Node refuses: the SDK decides
      return;
    }
    // The SDK handler's connection timeout (client.ts): a store that does not accept in 10 s.
    const connectTimer = setTimeout(() => req.destroy(new Error('connect timeout')), 10_000);
    // Silence (no byte either way, the answer's body included) ends the request: before an
    // answer the SDK then sends it again with its own timeout; after, the reader gets the error.
    req.setTimeout(t.lean.idleMs, () => req.destroy(idleError(t.lean.idleMs)));
    req.on('socket', (s) => {
      if (!s.connecting) clearTimeout(connectTimer);
      else s.once('connect', () => clearTimeout(connectTimer));
    });
    req.on('error', (err) => {
      clearTimeout(connectTimer);
      if (signal?.aborted) reject(signal.reason ?? err);
      else {
        onLost?.(); // sent, maybe stored, not answered (exclusive-put.ts)
        resolve(undefined);
      }
    });
    req.on('response', (res) => {
      clearTimeout(connectTimer);
      const status = res.statusCode ?? 0;
      if (status >= 200 && status < 300) return resolve({ res, started });
      // An early refusal while the body is still going out: end this request (its socket may
      // still hold the body, and the caller gives that buffer back for other transfers).
      if (!req.writableFinished) req.destroy();
      else res.resume(); // let the socket go back to the pool
      resolve(undefined);
    });
    req.end(body);
  });
}

/**
 * PutObject `input` (its Body a Buffer, its SHA-256 given) on the lean path: the ETag, or
 * undefined when the lean path did not store it (then send the same input through the SDK).
 */
export async function putSmallObject(
  client: S3Client,
  input: PutObjectCommandInput & { Body: Buffer },
  sha256: string,
  signal?: AbortSignal,
  onLost?: () => void,
): Promise<{ ETag?: string } | undefined> {
  // SSE-C writes take the SDK's path: its echo check (sse-check.ts) deletes what a store that
  // ignored the key stored. Handing over after a lean PUT could not: the plaintext would stay
  // (as an older version, or under a name an exclusive create then finds taken).
  if (input.SSECustomerKey) return undefined;
  const t = await targetOf(client, input.Bucket!, input.Key!);
  if (!t) return undefined;
  const headers = putHeaders(input, input.Body);
  if (!headers) return undefined;
  const sent = await send(client, t, 'PUT', headers, sha256, input.Body, signal, {}, onLost);
  if (!sent) return handOver();
  sent.res.resume();
  smallObjectStats.put++;
  t.lean.observer?.({ operation: 'PutObject', durationMs: performance.now() - sent.started });
  return { ETag: header(sent.res, 'etag') };
}

/** What download.ts reads of a GetObject answer. */
export interface SmallGetOutput {
  Body: Readable;
  ContentLength?: number;
  ContentRange?: string;
  ContentType?: string;
  ETag?: string;
  LastModified?: Date;
  Metadata: Record<string, string>;
}

/**
 * GetObject `input` on the lean path: the answer with its body still streaming, or undefined
 * when the lean path did not get a 2xx (then send the same input through the SDK). `close` asks
 * for `Connection: close` (download.ts `closeFirstConnection`).
 */
export async function getSmallObject(
  client: S3Client,
  input: GetObjectCommandInput,
  options: { signal?: AbortSignal; close?: boolean } = {},
): Promise<SmallGetOutput | undefined> {
  const t = await targetOf(client, input.Bucket!, input.Key!);
  if (!t) return undefined;
  const headers = getHeaders(input);
  if (!headers) return undefined;
  const lean = t.lean;
  const close = options.close === true && lean.gets < KEEP_ALIVE_FROM;
  const unsigned: Record<string, string> = close ? { connection: 'close' } : {};
  lean.gets++;
  let sent: Sent | undefined;
  try {
    sent = await send(client, t, 'GET', headers, EMPTY_SHA256, undefined, options.signal, unsigned);
  } catch (err) {
    lean.gets--;
    throw err;
  }
  if (!sent) {
    lean.gets--;
    return handOver();
  }
  smallObjectStats.get++;
  if (close) smallObjectStats.closedGets++;
  const { res } = sent;
  res.once('close', () => lean.gets--);
  const metadata: Record<string, string> = {};
  for (const [name, value] of Object.entries(res.headers))
    if (name.startsWith('x-amz-meta-') && typeof value === 'string') metadata[name.slice(11)] = value;
  const length = header(res, 'content-length');
  const modified = header(res, 'last-modified');
  t.lean.observer?.({ operation: 'GetObject', durationMs: performance.now() - sent.started });
  return {
    Body: res,
    ContentLength: length === undefined ? undefined : Number(length),
    ContentRange: header(res, 'content-range'),
    ContentType: header(res, 'content-type'),
    ETag: header(res, 'etag'),
    LastModified: modified === undefined ? undefined : new Date(modified),
    Metadata: metadata,
  };
}

function handOver(): undefined {
  smallObjectStats.handedToSdk++;
  return undefined;
}

function header(res: http.IncomingMessage, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}

export function idleError(ms: number): Error {
  return Object.assign(new Error(`S3 request timed out: no answer for ${ms / 1000} s`), {
    name: 'TimeoutError',
    code: 'ETIMEDOUT',
  });
}
