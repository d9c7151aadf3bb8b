import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { StorageError } from '../storage/errors.js';

/**
 * Ferry's own end-to-end checksum: the SHA-256 (hex) of the whole object, kept in the user
 * metadata `x-amz-meta-ferry-sha256`. The ETag is never used as an MD5 of the object: it is not
 * one for multipart uploads, SSE-KMS or SSE-C. Which writes carry it: see docs/transfers.md.
 */
export const SHA256_META = 'ferry-sha256';

export function checksumMismatch(what: string, expected: string, actual: string): StorageError {
  return new StorageError(
    'Conflict',
    `checksum mismatch on ${what}: expected SHA-256 ${expected}, got ${actual} (data corrupted or changed in transit)`,
    { retryable: true },
  );
}

/**
 * A pass-through stream that hashes what flows through it and, at the end, fails with a
 * Conflict StorageError instead of ending cleanly when the SHA-256 differs from `expected`.
 * With `expected` undefined it only computes; `digest()` gives the hex once the stream ended.
 */
export class Sha256Stream extends Transform {
  private readonly hash = createHash('sha256');
  private hex: string | undefined;

  constructor(
    private readonly expected?: string,
    private readonly what = 'object',
  ) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    this.hex = this.hash.digest('hex');
    if (this.expected !== undefined && this.expected !== this.hex) {
      cb(checksumMismatch(this.what, this.expected, this.hex));
      return;
    }
    cb();
  }

  digest(): string | undefined {
    return this.hex;
  }
}

/** SHA-256 (hex) of everything a stream yields. */
export async function sha256Of(stream: AsyncIterable<Uint8Array>): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of stream) hash.update(chunk);
  return hash.digest('hex');
}
