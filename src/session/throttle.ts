import { Transform, type TransformCallback } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Bandwidth limits: one token bucket per user, direction and node, shared by all that user's
 * sessions on this node (so opening more sessions does not buy more bandwidth). Tokens are
 * bytes, refilled at the limit's rate; the bucket holds at most a quarter second of them (the
 * burst). A caller takes tokens for a chunk before passing it on; a chunk larger than what is
 * there drives the bucket into debt and the next taker waits it off, so chunk size never lets a
 * transfer beat the rate by more than one burst. Takers are served in order.
 */
export class TokenBucket {
  private tokens: number;
  private last = performance.now();
  private queue: Promise<void> = Promise.resolve();
  private readonly burst: number;

  constructor(readonly bytesPerSecond: number) {
    this.burst = Math.max(16 * 1024, bytesPerSecond / 4);
    this.tokens = this.burst;
  }

  /** Resolves when `bytes` may pass. Rejects with the signal's reason when it aborts first. */
  take(bytes: number, signal?: AbortSignal): Promise<void> {
    const turn = this.queue.then(async () => {
      this.refill();
      this.tokens -= bytes;
      if (this.tokens < 0)
        await sleep(Math.ceil((-this.tokens / this.bytesPerSecond) * 1000), undefined, { signal });
    });
    this.queue = turn.catch(() => {});
    return turn;
  }

  private refill(): void {
    const now = performance.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.bytesPerSecond);
    this.last = now;
  }
}

/** Both directions of one user on this node. */
export interface UserBuckets {
  upload?: TokenBucket;
  download?: TokenBucket;
}

/** A pass-through stream that counts each chunk and lets it go only when the bucket (if any) allows. */
export function throttledStream(bucket: TokenBucket | undefined, onBytes?: (n: number) => void): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback) {
      (bucket ? bucket.take(chunk.length) : Promise.resolve()).then(
        () => {
          onBytes?.(chunk.length);
          cb(null, chunk);
        },
        (err: unknown) => cb(err as Error),
      );
    },
  });
}

/** Per-user buckets of this node, created on first use and kept while the user has sessions. */
export class Throttles {
  private readonly users = new Map<string, { buckets: UserBuckets; key: string; refs: number }>();

  acquire(
    username: string,
    limits: { uploadBytesPerSecond?: number; downloadBytesPerSecond?: number },
  ): UserBuckets {
    const key = `${limits.uploadBytesPerSecond ?? ''}/${limits.downloadBytesPerSecond ?? ''}`;
    let u = this.users.get(username);
    if (!u || u.key !== key) {
      // A changed limit applies to sessions that log in from now on; older sessions keep theirs.
      u = {
        key,
        refs: u?.refs ?? 0,
        buckets: {
          upload: limits.uploadBytesPerSecond ? new TokenBucket(limits.uploadBytesPerSecond) : undefined,
          download: limits.downloadBytesPerSecond
            ? new TokenBucket(limits.downloadBytesPerSecond)
            : undefined,
        },
      };
      this.users.set(username, u);
    }
    u.refs++;
    return u.buckets;
  }

  release(username: string): void {
    const u = this.users.get(username);
    if (u && --u.refs <= 0) this.users.delete(username);
  }
}
