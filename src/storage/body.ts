import { Readable } from 'node:stream';
import type { WriteBody } from './types.js';

/** Turn any accepted write body into a Node.js Readable (no copy for Readables). */
export function bodyToReadable(body: WriteBody): Readable {
  if (body instanceof Readable) return body;
  if (typeof body === 'string' || body instanceof Uint8Array) return Readable.from([Buffer.from(body)]);
  return Readable.from(body);
}

/** Collect a whole body in memory. For small bodies and the memory backend only. */
export async function bodyToBuffer(body: WriteBody): Promise<Buffer> {
  if (typeof body === 'string') return Buffer.from(body);
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}
