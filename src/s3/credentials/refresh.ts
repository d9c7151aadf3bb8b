import type { AwsCredentials, CredentialProvider } from './types.js';

export interface RefreshOptions {
  /** Renew this long before expiry at most (default 5 min) … */
  aheadMs?: number;
  /** … but never earlier than this fraction of the lifetime before expiry (default 1/2). */
  aheadFraction?: number;
  now?: () => number;
}

export interface RefreshingProvider extends CredentialProvider {
  /** How many times the underlying source was asked (for doctor and tests). */
  readonly fetches: number;
  /** The credentials currently held, if any. */
  readonly current: AwsCredentials | undefined;
}

/**
 * Cache credentials and renew them ahead of their expiry, so a request signed now is still valid
 * when S3 checks it, also in the middle of a multipart upload or a long listing: every S3 call
 * asks for credentials and gets fresh ones once the old ones are within
 * `min(aheadMs, lifetime × aheadFraction)` of expiring. One renewal at a time; callers waiting on
 * it share its result. If a renewal fails while the old credentials are still valid, the old ones
 * are used (the next call tries again); once they have expired, the error is thrown.
 */
export function refreshing(fetch: CredentialProvider, options: RefreshOptions = {}): RefreshingProvider {
  const aheadMs = options.aheadMs ?? 5 * 60_000;
  const fraction = options.aheadFraction ?? 0.5;
  const now = options.now ?? Date.now;
  let held: { creds: AwsCredentials; renewAt: number } | undefined;
  let pending: Promise<AwsCredentials> | undefined;
  let fetches = 0;

  const renew = () => {
    pending ??= (async () => {
      try {
        fetches++;
        const fetchedAt = now();
        const creds = await fetch();
        const expires = creds.expiration?.getTime();
        const renewAt =
          expires === undefined
            ? Number.POSITIVE_INFINITY
            : expires - Math.min(aheadMs, Math.max(0, (expires - fetchedAt) * fraction));
        held = { creds, renewAt };
        return creds;
      } finally {
        pending = undefined;
      }
    })();
    return pending;
  };

  const provider = async (): Promise<AwsCredentials> => {
    if (held && now() < held.renewAt) return held.creds;
    const stillValid =
      held && (held.creds.expiration === undefined || now() < held.creds.expiration.getTime());
    if (!stillValid) return renew();
    return renew().catch(() => held!.creds);
  };
  Object.defineProperties(provider, {
    fetches: { get: () => fetches },
    current: { get: () => held?.creds },
  });
  return provider as RefreshingProvider;
}
