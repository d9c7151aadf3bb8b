import type { Readable } from 'node:stream';
import type { Entry, WriteBody } from '../storage/types.js';
import type { SessionWriteHandle } from './session-handles.js';

/**
 * Feed a whole body into a write handle, in order, then close it. The handle is aborted when
 * anything fails; when the handle is aborted from outside (the session closed) while the body is
 * slow to give its next chunk, the pump stops at once rather than waiting for it.
 */
export async function pump(
  handle: SessionWriteHandle,
  body: WriteBody,
  signal?: AbortSignal,
): Promise<Entry> {
  const stop = signal ? AbortSignal.any([handle.aborted, signal]) : handle.aborted;
  const chunks = chunksOf(body)[Symbol.asyncIterator]();
  let offset = handle.startOffset;
  try {
    for (;;) {
      const next = await unlessStopped(chunks.next(), stop);
      if (next.done) break;
      await handle.write(offset, next.value);
      offset += next.value.length;
    }
    stop.throwIfAborted();
    return await handle.close();
  } catch (err) {
    await handle.abort();
    if (typeof (body as Readable).destroy === 'function') (body as Readable).destroy();
    void chunks.return?.()?.catch?.(() => {});
    throw err;
  }
}

/**
 * `next`, or the signal's reason once it fires first. A listener per call, removed when `next`
 * settles: racing every chunk against one never-settling promise (the first version) left a
 * reaction per chunk on it, which kept every chunk of an upload in memory until the upload ended
 * (a 640 MiB upload held 696 MiB; bench/http-transfer.ts).
 */
function unlessStopped<T>(next: Promise<T>, stop: AbortSignal): Promise<T> {
  if (stop.aborted) return Promise.reject(stop.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(stop.reason);
    stop.addEventListener('abort', onAbort, { once: true });
    next.then(
      (value) => {
        stop.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        stop.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}

const SLICE = 1024 * 1024;

async function* chunksOf(body: WriteBody): AsyncIterable<Uint8Array> {
  if (typeof body === 'string' || body instanceof Uint8Array) {
    const bytes = typeof body === 'string' ? Buffer.from(body) : body;
    for (let at = 0; at < bytes.length; at += SLICE) yield bytes.subarray(at, at + SLICE);
    return;
  }
  for await (const chunk of body as AsyncIterable<Uint8Array | string>)
    yield typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
}
