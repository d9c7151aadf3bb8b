import * as net from 'node:net';
import type { GetObjectCommandInput, S3Client } from '@aws-sdk/client-s3';
import { rangeError } from './range-read.js';
import { EMPTY_SHA256 } from './sigv4.js';
import { getHeaders, idleError, signLean, type Target, targetOf } from './small-object.js';

/**
 * Ranged GETs read straight into the caller's buffer: the part buffers of a download.
 *
 * Through the SDK (node:http) every 64 KiB the socket reads is a fresh buffer, the HTTP parser
 * copies the body bytes of it into another, and the reader copies those into the part: two
 * allocations and two copies per 64 KiB, plus the GC of both (~0.45 ms/MiB of a 2-core SFTP get,
 * docs/notes/issue-9.md, Session 8: download). Here the request goes out on a plain TCP socket of
 * our own whose reads (net `onread`) land in a small scratch buffer until the answer's head is
 * in, then straight into the part buffer: the kernel's copy is the only one, and a read takes
 * what the socket has (often hundreds of KiB) instead of 64 KiB.
 *
 * Only what this handles is handled here; everything else goes to the SDK, as the lean path
 * (small-object.ts) does: the lean endpoint conditions (plain `http:` only — TLS sockets take no
 * `onread`), a 206 answer for exactly the range asked with a Content-Length and no
 * Transfer-Encoding. Any other answer (a 412 for a replaced object, a 404, a 5xx, a 200 that
 * ignored Range), a head over 16 KiB, a connection that fails before an answer: `undefined`, and
 * the caller sends the request through the SDK, whose retries and errors are then the only ones.
 * A body cut short (reset, EOF, the store silent for `idleMs`) reports the bytes already in place
 * and a retryable error; the caller asks again for the rest (range-read.ts `readRange`).
 *
 * Bytes after the announced body never land in a part: each read takes at most what is still
 * due, an idle kept connection destroys itself on any byte, and a kept connection waits for the
 * event loop to read what it had unread before it takes a request (`quiet`). Left: bytes a store
 * sends later than that, once the next request is out, are taken for its answer if they are a
 * 206 for exactly the range asked (HTTP/1.1 gives no way to tell them apart; node:http neither).
 */

/** What one ranged GET put in place: `got` bytes from the buffer's start, and why it stopped short. */
export interface RawRead {
  got: number;
  error?: unknown;
}

/** Raw GETs answered, and those handed to the SDK (process-wide; for tests and benchmarks). */
export const rawGetStats = { gets: 0, handedToSdk: 0, reused: 0 };

const HEAD_MAX = 16 * 1024;
/** An idle kept connection is closed after this long (RGW's own keep-alive is longer). */
const IDLE_KEEP_MS = 4_000;
/** Idle connections kept per endpoint. */
const KEEP_MAX = 16;
const CONNECT_MS = 10_000;

/** One kept-alive socket and where its next read lands. */
interface Conn {
  socket: net.Socket;
  scratch: Buffer;
  /** The buffer the next read fills: scratch (head, idle) or the rest of the caller's buffer. */
  next: Buffer;
  /** Bytes read into the current buffer: handed the count and the buffer read into. */
  onBytes: (n: number) => void;
  /** The socket ended, failed or timed out. */
  onGone: (err: Error) => void;
  key: string;
  pool: Map<string, Conn[]>;
}

const pools = new WeakMap<S3Client, Map<string, Conn[]>>();

const unexpected = (conn: Conn) => () => conn.socket.destroy(new Error('bytes from an idle S3 connection'));

function connect(t: Target, pool: Map<string, Conn[]>): Conn {
  const port = Number(t.lean.endpoint.port) || 80;
  const scratch = Buffer.allocUnsafe(HEAD_MAX);
  // Whole before net.connect: it asks `buffer` for the first read's buffer at once.
  const conn: Conn = {
    socket: undefined as unknown as net.Socket,
    scratch,
    next: scratch,
    onBytes: () => {},
    onGone: () => {},
    key: `${t.hostname}:${port}`,
    pool,
  };
  conn.onBytes = unexpected(conn);
  const socket = net.connect({
    host: t.hostname,
    port,
    noDelay: true,
    onread: {
      buffer: () => conn.next,
      callback: (n: number) => {
        conn.onBytes(n);
        return true;
      },
    },
  });
  conn.socket = socket;
  socket.on('error', (err) => conn.onGone(err));
  socket.on('close', () => {
    forget(conn);
    conn.onGone(Object.assign(new Error('the store closed the connection'), { code: 'ECONNRESET' }));
  });
  socket.on('timeout', () => conn.onGone(idleError(socket.timeout ?? 0)));
  return conn;
}

function forget(conn: Conn): void {
  const idle = conn.pool.get(conn.key);
  const i = idle?.indexOf(conn) ?? -1;
  if (i >= 0) idle!.splice(i, 1);
}

function park(conn: Conn): void {
  conn.next = conn.scratch;
  conn.onBytes = unexpected(conn);
  conn.onGone = (err) => conn.socket.destroy(err);
  const idle = conn.pool.get(conn.key) ?? [];
  if (idle.length >= KEEP_MAX || conn.socket.destroyed) return void conn.socket.destroy();
  conn.pool.set(conn.key, idle);
  idle.push(conn);
  conn.socket.setTimeout(IDLE_KEEP_MS);
  conn.socket.unref();
}

/**
 * GET bytes `from`..`from + into.length - 1` of the object `input` names (Range is set here;
 * If-Match and the SSE-C fields as given) into `into`. `undefined`: not done this way — send it
 * through the SDK (nothing in `into` is to be trusted then).
 */
export async function getRangeInto(
  client: S3Client,
  input: GetObjectCommandInput,
  from: number,
  into: Buffer,
  signal?: AbortSignal,
): Promise<RawRead | undefined> {
  const t = await targetOf(client, input.Bucket!, input.Key!);
  if (t?.lean.endpoint.protocol !== 'http:' || into.length === 0) return undefined;
  const to = from + into.length - 1;
  const headers = getHeaders({ ...input, Range: `bytes=${from}-${to}` });
  if (!headers) return undefined;
  signal?.throwIfAborted();
  await signLean(client, t, 'GET', headers, EMPTY_SHA256);
  let head = `GET ${t.path} HTTP/1.1\r\n`;
  for (const [name, value] of Object.entries(headers)) {
    if (/[\r\n]/.test(value)) return handOver(); // Node's http would refuse it too: the SDK says so
    head += `${name}: ${value}\r\n`;
  }
  const request = Buffer.from(`${head}\r\n`, 'latin1');
  const pool = pools.get(client) ?? new Map<string, Conn[]>();
  pools.set(client, pool);
  const started = performance.now();
  for (;;) {
    signal?.throwIfAborted(); // an abort during the signing, or the stale try, is not heard below
    const kept = pool.get(`${t.hostname}:${Number(t.lean.endpoint.port) || 80}`)?.pop();
    if (kept && !(await quiet(kept, signal))) continue;
    const conn = kept ?? connect(t, pool);
    if (kept) rawGetStats.reused++;
    const r = await exchange(conn, request, from, into, t.lean.idleMs, signal);
    // A kept connection the store had already closed fails before any answer: once more on a
    // fresh one (a GET has no effect to repeat).
    if (r === 'stale' && kept) continue;
    if (r === 'stale' || r === undefined) return handOver();
    rawGetStats.gets++;
    t.lean.observer?.({ operation: 'GetObject', durationMs: performance.now() - started });
    return r;
  }
}

/**
 * Whether a kept connection may take a request: it is used only after two turns of the event
 * loop. Bytes a broken store (or a middlebox) sent after the body it announced — more than its
 * Content-Length, a second answer glued on — sit unread in the socket when the body ends (each
 * body read is exactly what is still due); were the request written first, they would be read as
 * its answer (a 206 for the very range asked would land in the part). Each turn polls the sockets,
 * so they are read meanwhile and the idle connection destroys itself on them (`unexpected`); two
 * turns because one read callback may be the last libuv makes for a socket in a poll phase.
 */
async function quiet(conn: Conn, signal: AbortSignal | undefined): Promise<boolean> {
  for (let turn = 0; turn < 2; turn++) await new Promise((r) => setImmediate(r));
  if (conn.socket.destroyed) return false;
  if (signal?.aborted) park(conn);
  signal?.throwIfAborted();
  return true;
}

function handOver(): undefined {
  rawGetStats.handedToSdk++;
  return undefined;
}

/**
 * One request on `conn`: 'stale' when it failed before a byte of answer, undefined for an answer
 * the SDK is to have (the connection closed), else what was read into `into`.
 */
function exchange(
  conn: Conn,
  request: Buffer,
  from: number,
  into: Buffer,
  idleMs: number,
  signal: AbortSignal | undefined,
): Promise<RawRead | 'stale' | undefined> {
  const { socket, scratch } = conn;
  const size = into.length;
  return new Promise((resolve, reject) => {
    let headLen = 0;
    let inBody = false;
    let keepAlive = false;
    let got = 0;
    let done = false;
    const finish = (r: RawRead | 'stale' | undefined, keep: boolean, thrown?: unknown) => {
      if (done) return;
      done = true;
      clearTimeout(connectTimer);
      signal?.removeEventListener('abort', onAbort);
      if (keep) park(conn);
      else {
        conn.next = scratch; // nothing more lands in the caller's buffer (destroy stops reading)
        conn.onBytes = unexpected(conn);
        conn.onGone = () => {};
        socket.destroy();
      }
      if (thrown !== undefined) reject(thrown);
      else resolve(r);
    };
    const onAbort = () => finish(undefined, false, signal!.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    const connectTimer = setTimeout(() => {
      if (socket.connecting)
        conn.onGone(Object.assign(new Error('connect timeout'), { name: 'TimeoutError' }));
    }, CONNECT_MS);
    conn.onGone = (err) => {
      if (!inBody) {
        // No answer yet: a kept connection the store closed meanwhile is 'stale' (tried again on a
        // fresh one); a silent store or a half-read head is the SDK's to try and report.
        const closed = headLen === 0 && (err as { name?: string }).name !== 'TimeoutError';
        finish(closed ? 'stale' : undefined, false);
      } else finish({ got, error: shortBody(err, from, got, size) }, false);
    };
    conn.onBytes = (n) => {
      if (inBody) {
        got += n;
        if (got < size) conn.next = into.subarray(got);
        else finish({ got }, keepAlive);
        return;
      }
      headLen += n;
      const end = scratch.subarray(0, headLen).indexOf('\r\n\r\n');
      if (end < 0) {
        if (headLen >= HEAD_MAX) finish(undefined, false);
        else conn.next = scratch.subarray(headLen);
        return;
      }
      const answer = parseHead(scratch.toString('latin1', 0, end));
      const extra = headLen - end - 4;
      if (!answer || !fits(answer, from, size) || extra > size) return finish(undefined, false);
      keepAlive = answer.keepAlive;
      inBody = true;
      got = scratch.copy(into, 0, end + 4, headLen);
      if (got === size) return finish({ got }, keepAlive);
      conn.next = into.subarray(got);
    };
    socket.ref();
    socket.setTimeout(idleMs);
    socket.write(request);
  });
}

interface Answer {
  status: number;
  headers: Map<string, string>;
  keepAlive: boolean;
}

function parseHead(text: string): Answer | undefined {
  const lines = text.split('\r\n');
  const m = /^HTTP\/1\.([01]) (\d{3})/.exec(lines[0] ?? '');
  if (!m) return undefined;
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0) return undefined;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers.set(name, headers.has(name) ? `${headers.get(name)}, ${value}` : value);
  }
  const connection = headers.get('connection')?.toLowerCase() ?? '';
  const keepAlive = m[1] === '1' ? !/\bclose\b/.test(connection) : /\bkeep-alive\b/.test(connection);
  return { status: Number(m[2]), headers, keepAlive };
}

/** A 206 for exactly `from`..`from + size - 1`, its length given, not chunked. */
function fits(a: Answer, from: number, size: number): boolean {
  if (a.status !== 206 || a.headers.has('transfer-encoding')) return false;
  if (a.headers.get('content-length') !== String(size)) return false;
  const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(a.headers.get('content-range') ?? '');
  return range !== null && Number(range[1]) === from && Number(range[2]) === from + size - 1;
}

/** The error of a body cut short: retryable (a network code, or 599 for a clean early end). */
function shortBody(err: Error, from: number, got: number, size: number): Error {
  if (typeof (err as { code?: unknown }).code === 'string') return err;
  const e = rangeError(`ranged GET for bytes ${from}-${from + size - 1} ended after ${got} bytes`);
  return Object.assign(e, { cause: err });
}
