import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

/** What the proxy does with one request. */
export type FaultAction =
  | 'pass'
  /** Answer 500 InternalError without forwarding. */
  | 'fail'
  /** Answer 403 AccessDenied without forwarding (a policy refusing the call). */
  | 'deny'
  /**
   * Answer with this S3 error document without forwarding: an error a store we cannot run here
   * would send (copied from the store's documentation), e.g. AWS's AccessControlListNotSupported.
   */
  | { error: { status: number; code: string; message: string } }
  /** Forward, but hold the response back for `delayMs` first. */
  | { delayMs: number }
  /**
   * Forward, but end the response body cleanly after `truncateAfter` bytes (sent chunked, without
   * Content-Length): a server that stops early without an error.
   */
  | { truncateAfter: number }
  /**
   * Forward the headers and the first `stallAfterBytes` bytes of the body, then hold the rest
   * (for good, or `resumeAfterMs` after the answer began).
   */
  | { stallAfterBytes: number; resumeAfterMs?: number }
  /** Forward the headers and the first `resetAfterBytes` bytes of the body, then reset the connection. */
  | { resetAfterBytes: number }
  /**
   * Forward, let the store answer (so what it does is done), then reset the client's connection
   * without passing the answer on: a 2xx lost on the way back.
   */
  | 'lose'
  /** Take the request and never answer (a store that accepts connections and then says nothing). */
  | 'hang';

export interface SeenRequest {
  method: string;
  url: URL;
  /** S3 operation guessed from method and query (UploadPart, GetObject, …). */
  op: string;
  /** The Range header asked, if any. */
  range?: string;
}

/**
 * A small HTTP proxy on 127.0.0.1 in front of the real S3 server: it forwards every request
 * unchanged (the Host header too, so SigV4 signatures stay valid) unless `decide` says to fail or
 * delay it. It records every request, so tests can count S3 calls. No SDK mocking involved.
 */
export async function startFaultProxy(
  target: string,
  decide: (req: SeenRequest) => FaultAction = () => 'pass',
) {
  const to = new URL(target);
  const seen: SeenRequest[] = [];
  /** Responses fully sent, by operation. */
  const answered: Record<string, number> = {};
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://proxy');
    const method = req.method ?? 'GET';
    const entry: SeenRequest = { method, url, op: opOf(method, url), range: req.headers.range };
    seen.push(entry);
    res.on('finish', () => {
      answered[entry.op] = (answered[entry.op] ?? 0) + 1;
    });
    const action = proxy.decide(entry);
    if (action === 'fail' || action === 'deny' || (typeof action === 'object' && 'error' in action)) {
      const [status, code, message] =
        action === 'fail'
          ? [500, 'InternalError', 'injected by the fault proxy']
          : action === 'deny'
            ? [403, 'AccessDenied', 'injected by the fault proxy']
            : [action.error.status, action.error.code, action.error.message];
      req.resume();
      req.on('end', () => {
        res.writeHead(status, { 'content-type': 'application/xml' });
        res.end(
          `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${message}</Message></Error>`,
        );
      });
      return;
    }
    if (action === 'hang') {
      req.resume();
      return;
    }
    const upstream = http.request(
      {
        host: to.hostname,
        port: to.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
        agent,
      },
      (up) => {
        if (action === 'lose') {
          up.resume();
          up.on('end', () => req.socket.destroy());
          return;
        }
        const send = () => {
          if (typeof action === 'object' && 'truncateAfter' in action) {
            const { 'content-length': _, ...headers } = up.headers;
            res.writeHead(up.statusCode ?? 502, headers);
            let left = action.truncateAfter;
            up.on('data', (chunk: Buffer) => {
              if (left <= 0) return;
              res.write(chunk.subarray(0, left));
              left -= chunk.length;
              if (left <= 0) {
                up.destroy();
                res.end();
              }
            });
            up.on('end', () => {
              if (left > 0) res.end();
            });
            return;
          }
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
        };
        if (typeof action === 'object' && 'stallAfterBytes' in action) {
          res.writeHead(up.statusCode ?? 502, up.headers);
          let left = action.stallAfterBytes;
          const held: Buffer[] = [];
          up.on('data', (chunk: Buffer) => {
            if (left > 0) res.write(chunk.subarray(0, left));
            if (chunk.length > left) held.push(chunk.subarray(Math.max(0, left)));
            left -= chunk.length;
          });
          const { resumeAfterMs } = action;
          if (resumeAfterMs !== undefined)
            setTimeout(() => {
              if (res.destroyed) return;
              for (const b of held.splice(0)) res.write(b);
              up.on('data', (chunk: Buffer) => res.write(chunk));
              up.on('end', () => res.end());
            }, resumeAfterMs);
          res.on('close', () => up.destroy());
        } else if (typeof action === 'object' && 'resetAfterBytes' in action) {
          res.writeHead(up.statusCode ?? 502, up.headers);
          let left = action.resetAfterBytes;
          up.on('data', (chunk: Buffer) => {
            if (left <= 0) return;
            res.write(chunk.subarray(0, left));
            left -= chunk.length;
            if (left <= 0) {
              up.destroy();
              // Once what was written has gone out: a reset, not a clean end.
              setTimeout(() => req.socket.resetAndDestroy(), 50);
            }
          });
        } else if (typeof action === 'object' && 'delayMs' in action) setTimeout(send, action.delayMs);
        else send();
      },
    );
    upstream.on('error', (err) => res.destroy(err));
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const proxy = {
    endpoint: `http://127.0.0.1:${port}`,
    seen,
    answered,
    decide,
    count: (op: string) => seen.filter((s) => s.op === op).length,
    close: async () => {
      server.closeAllConnections();
      agent.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return proxy;
}

function opOf(method: string, url: URL): string {
  const q = url.searchParams;
  if (method === 'PUT' && q.has('partNumber')) return 'UploadPart';
  if (method === 'POST' && q.has('uploads')) return 'CreateMultipartUpload';
  if (method === 'POST' && q.has('uploadId')) return 'CompleteMultipartUpload';
  if (method === 'DELETE' && q.has('uploadId')) return 'AbortMultipartUpload';
  if (method === 'GET' && q.has('uploadId')) return 'ListParts';
  if (method === 'GET' && q.has('uploads')) return 'ListMultipartUploads';
  if (method === 'PUT') return 'PutObject';
  if (method === 'HEAD') return 'HeadObject';
  if (method === 'DELETE') return 'DeleteObject';
  if (method === 'GET' && (q.has('list-type') || url.pathname.split('/').filter(Boolean).length <= 1))
    return 'ListObjects';
  return method === 'GET' ? 'GetObject' : method;
}
