import { Readable } from 'node:stream';
import type { WriteBody } from './types.js';

/** Turn any accepted write body into a Node.js Readable (no copy for Readables). */
export function bodyToReadable(body: WriteBody): Readable {
  if (body instanceof Readable) return body;
  if (typeof body === 'string' || body instanceof Uint8Array) return Readable.from([Buffer.from(body)]);
  return Readable.from(body);
}

const unsizedBodies = new WeakSet<Readable>();

/**
 * `body` (a pipe or device read to its end) has no size its entry can tell: the entry's size
 * (0 from a stat) must not be declared to the destination (`sizeOf`).
 */
export function unsizedBody(body: Readable): Readable {
  unsizedBodies.add(body);
  return body;
}

/** The size to declare for `body` read from an entry of `size`: undefined for an unsized body. */
export function sizeOf(body: unknown, size: number): number | undefined {
  return body instanceof Readable && unsizedBodies.has(body) ? undefined : size;
}

const wholeBodies = new WeakMap<Readable, Buffer>();

/**
 * A Readable of `buffer` (a whole file read at once) that a writer may take as that buffer
 * (`wholeBufferOf`) instead of streaming it.
 */
export function wholeBody(buffer: Buffer): Readable {
  const body = new Readable({
    read() {
      this.push(buffer);
      this.push(null);
    },
  });
  wholeBodies.set(body, buffer);
  return body;
}

/** The buffer of a `wholeBody` nothing has read from yet; undefined for any other body. */
export function wholeBufferOf(body: unknown): Buffer | undefined {
  if (!(body instanceof Readable)) return undefined;
  const buffer = wholeBodies.get(body);
  return buffer && !body.readableDidRead && !body.destroyed ? buffer : undefined;
}

/** Collect a whole body in memory. For small bodies and the memory backend only. */
export async function bodyToBuffer(body: WriteBody): Promise<Buffer> {
  if (typeof body === 'string') return Buffer.from(body);
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}

const sourceChecks = new WeakMap<Readable, () => Promise<void>>();

/**
 * `body` read from a source that can tell whether it changed since it was opened (a local file
 * rewritten in place, or replaced, while read): `check` throws a Conflict if so. A writer calls
 * it (`sourceCheckOf`) after the last byte is read and before it commits the new content, so a
 * torn or stale copy is never stored.
 */
export function checkedSource(body: Readable, check: () => Promise<void>): Readable {
  sourceChecks.set(body, check);
  return body;
}

/** The check `checkedSource` gave `body`, if any. */
export function sourceCheckOf(body: unknown): (() => Promise<void>) | undefined {
  return body instanceof Readable ? sourceChecks.get(body) : undefined;
}
