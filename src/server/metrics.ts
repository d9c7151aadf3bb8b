import { Counter, collectDefaultMetrics, Histogram, Registry } from 'prom-client';
import type { S3RequestObserver } from '../s3/client.js';
import type { SessionEvent, SessionManager } from '../session/types.js';

/**
 * The server's Prometheus metrics, one registry per server (tests build several in a process).
 * Fed by: session events (transfers, bytes, errors by code), the HTTP server (requests by route
 * and status), and the S3 clients of the storage pool (requests and latency per operation, via
 * `s3Observer` passed as `S3ClientOptions.observer`). Labels never hold a user, path or key: their
 * number must stay bounded.
 */
export interface FerryMetrics {
  readonly registry: Registry;
  /** Count one session event (subscribe with `attach`, or call directly). */
  sessionEvent(event: SessionEvent): void;
  /** Subscribe to every session's events; returns the unsubscribe function. */
  attach(sessions: Pick<SessionManager, 'onEvent'>): () => void;
  /** One HTTP request answered: `route` is the route pattern (`/api/v1/users/:username`). */
  httpRequest(method: string, route: string, status: number, seconds: number): void;
  readonly s3Observer: S3RequestObserver;
}

const TRANSFER_KINDS = new Set(['upload', 'download']);

export function createMetrics(options: { defaultMetrics?: boolean } = {}): FerryMetrics {
  const registry = new Registry();
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry, prefix: 'ferry_' });
  const registers = [registry];

  const operations = new Counter({
    name: 'ferry_operations_total',
    help: 'File operations by protocol, kind (upload, download, delete, rename, mkdir, login …) and result (ok or the error code)',
    labelNames: ['protocol', 'kind', 'result'],
    registers,
  });
  const transfers = new Counter({
    name: 'ferry_transfers_total',
    help: 'Uploads and downloads that ended, by protocol, direction and result',
    labelNames: ['protocol', 'direction', 'result'],
    registers,
  });
  const bytes = new Counter({
    name: 'ferry_transfer_bytes_total',
    help: 'Bytes moved by uploads (direction="up") and downloads (direction="down")',
    labelNames: ['protocol', 'direction'],
    registers,
  });
  const errors = new Counter({
    name: 'ferry_errors_total',
    help: 'Failed operations by protocol and StorageError code',
    labelNames: ['protocol', 'code'],
    registers,
  });
  const http = new Counter({
    name: 'ferry_http_requests_total',
    help: 'HTTP requests by method, route pattern and status',
    labelNames: ['method', 'route', 'status'],
    registers,
  });
  const httpSeconds = new Histogram({
    name: 'ferry_http_request_duration_seconds',
    help: 'HTTP request duration by method and route pattern',
    labelNames: ['method', 'route'],
    buckets: [0.005, 0.02, 0.1, 0.5, 2, 10, 60],
    registers,
  });
  const s3 = new Counter({
    name: 'ferry_s3_requests_total',
    help: 'S3 requests sent (each retry attempt counts) by operation and result (ok or the error name)',
    labelNames: ['operation', 'result'],
    registers,
  });
  const s3Seconds = new Histogram({
    name: 'ferry_s3_request_duration_seconds',
    help: 'S3 request latency by operation',
    labelNames: ['operation'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
    registers,
  });

  const sessionEvent = (e: SessionEvent) => {
    operations.inc({ protocol: e.protocol, kind: e.kind, result: e.result });
    if (e.result !== 'ok' && e.kind !== 'login-failed') errors.inc({ protocol: e.protocol, code: e.result });
    if (TRANSFER_KINDS.has(e.kind)) {
      const direction = e.kind === 'upload' ? 'up' : 'down';
      transfers.inc({ protocol: e.protocol, direction, result: e.result });
      // A failed transfer moved bytes too (a download cut short): they count as moved.
      if (e.bytes) bytes.inc({ protocol: e.protocol, direction }, e.bytes);
    }
  };

  return {
    registry,
    sessionEvent,
    attach: (sessions) => sessions.onEvent(sessionEvent),
    httpRequest(method, route, status, seconds) {
      http.inc({ method, route, status: String(status) });
      httpSeconds.observe({ method, route }, seconds);
    },
    s3Observer: ({ operation, durationMs, error }) => {
      s3.inc({ operation, result: error ?? 'ok' });
      s3Seconds.observe({ operation }, durationMs / 1000);
    },
  };
}
