/**
 * The one retry policy of the transfer engine (parts up, ranges down, multipart bookkeeping).
 * The SDK already retries each request a few times inside one try; this adds whole-call tries
 * with a longer back-off for what the SDK gives up on (a part failing several times in a row).
 */

export interface RetryOptions {
  /** Tries in all (1 = no retry). */
  attempts: number;
  signal?: AbortSignal;
  /** Whether `err` is worth another try (default: `isRetryable`). */
  retryable?: (err: unknown) => boolean;
  /** First back-off in ms; doubles each try (default 400 ms, then 800 ms …). */
  backoffMs?: number;
}

interface SdkErrorShape {
  $retryable?: unknown;
  $metadata?: { httpStatusCode?: number };
  code?: string;
  name?: string;
}

/**
 * True for errors another try may cure: throttling and 5xx answers, errors the SDK marks
 * retryable, and network errors (they carry a `code` such as ECONNRESET). Never for an abort, nor
 * for a 4xx answer (a refused request is refused again).
 */
export function isRetryable(err: unknown): boolean {
  const e = (err ?? {}) as SdkErrorShape;
  if (e.name === 'AbortError') return false;
  const status = e.$metadata?.httpStatusCode;
  if (status !== undefined) return status >= 500 || Boolean(e.$retryable);
  return Boolean(e.$retryable) || typeof e.code === 'string';
}

/** The back-off before try `attempt + 1` (400 ms, 800 ms, … by default). */
export function pause(attempt: number, backoffMs = 400): Promise<void> {
  return new Promise((r) => setTimeout(r, backoffMs * 2 ** (attempt - 1)));
}

/** Run `fn` until it succeeds, the error is not retryable, the tries are spent or `signal` aborts. */
export async function withRetries<T>(fn: (attempt: number) => Promise<T>, opts: RetryOptions): Promise<T> {
  const retryable = opts.retryable ?? isRetryable;
  const backoff = opts.backoffMs ?? 400;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (attempt >= opts.attempts || opts.signal?.aborted || !retryable(err)) throw err;
      await pause(attempt, backoff);
    }
  }
}
