/**
 * Reading one byte range of an object whatever the store does: a body that ends early is resumed
 * with a ranged GET of the rest, a longer one is an error. Used by downloadObject, downloadToFile
 * and the storage read handle.
 */
import type { Readable } from 'node:stream';
import type { GetObjectCommandOutput } from '@aws-sdk/client-s3';
import type { RawRead } from './raw-get.js';
import { isRetryable, pause } from './retry.js';

/** One ranged GET of `from`..`to` (inclusive), pinned to a version by the caller (If-Match). */
export type RangeGet = (from: number, to: number) => Promise<GetObjectCommandOutput>;

/**
 * A ranged GET of `from`..`from + into.length - 1` read straight into `into` (raw-get.ts
 * `getRangeInto`): what it put in place, or undefined when the request is the SDK's to send.
 */
export type RangeInto = (from: number, into: Buffer) => Promise<RawRead | undefined>;

/**
 * The bytes `from`..`to` (inclusive) in one buffer (`into` when given, else a fresh one), with
 * `streamRange`'s retries: from `body` when an answer for that range is already there, else from
 * ranged GETs — read straight into the buffer by `raw` while it can (a body cut short is asked
 * again from where it stopped, up to `attempts` bodies), through `get` for whatever it hands over.
 */
export async function readRange(
  get: RangeGet,
  from: number,
  to: number,
  attempts: number,
  signal: AbortSignal,
  body?: Readable,
  into?: Buffer,
  raw?: RangeInto,
): Promise<Buffer> {
  const out = into ? into.subarray(0, to - from + 1) : Buffer.allocUnsafe(to - from + 1);
  let at = 0;
  for (let attempt = 1; raw && !body; attempt++) {
    const r = await raw(from + at, out.subarray(at));
    if (!r) break; // the SDK's, from `at` on
    at += r.got;
    if (at === out.length) return out;
    if (attempt >= attempts || signal.aborted || !isRetryable(r.error)) throw r.error;
    await pause(attempt);
  }
  if (at > 0) from += at;
  for await (const chunk of streamRange(body, from, to, get, attempts, signal)) {
    chunk.copy(out, at);
    at += chunk.length;
  }
  return out;
}

/**
 * The bytes `from`..`to` (inclusive) in order: from `body` (an answer already received for that
 * range) and, when a body ends early — cleanly or with an error — from a ranged GET of what is
 * still missing, up to `attempts` bodies in all. A body longer than asked is an error. So a
 * server that stops sending without an error (defect 8) never makes a short stream.
 */
export async function* streamRange(
  body: Readable | undefined,
  from: number,
  to: number,
  get: RangeGet,
  attempts: number,
  signal: AbortSignal,
): AsyncGenerator<Buffer> {
  let at = from;
  let current = body;
  for (let attempt = 1; ; attempt++) {
    try {
      current ??= (await get(at, to)).Body as Readable;
      for await (const chunk of current) {
        const c = chunk as Buffer;
        if (at + c.length > to + 1) throw rangeError(`ranged GET returned more than ${to - from + 1} bytes`);
        at += c.length;
        yield c;
      }
      if (at === to + 1) return;
      throw rangeError(`ranged GET for bytes ${from}-${to} ended after ${at - from} bytes`);
    } catch (err) {
      current?.destroy();
      current = undefined;
      if (attempt >= attempts || signal.aborted || !isRetryable(err)) throw err;
      await pause(attempt);
    }
  }
}

/** `bytes 100-199/1234` → 100. */
export function firstOf(contentRange: string | undefined): number | undefined {
  const m = /^bytes\s+(\d+)-/.exec(contentRange ?? '');
  return m ? Number(m[1]) : undefined;
}

/** `bytes 0-99/1234` → 1234. */
export function totalOf(contentRange: string | undefined): number | undefined {
  const m = /\/(\d+)\s*$/.exec(contentRange ?? '');
  return m ? Number(m[1]) : undefined;
}

/** A short or long ranged body: retryable, like a 5xx. */
export function rangeError(message: string): Error {
  return Object.assign(new Error(message), { $metadata: { httpStatusCode: 599 } });
}
