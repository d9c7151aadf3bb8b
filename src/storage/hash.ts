import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { HashAlgorithm } from './types.js';

/** Lower-case hex digest of a stream's bytes (what `Storage.hash` computes by reading). */
export async function hashOf(body: Readable | Uint8Array, algorithm: HashAlgorithm): Promise<string> {
  const h = createHash(algorithm);
  if (body instanceof Uint8Array) return h.update(body).digest('hex');
  for await (const chunk of body) h.update(chunk as Buffer);
  return h.digest('hex');
}
