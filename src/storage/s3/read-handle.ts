import { setMaxListeners } from 'node:events';
import type { Readable } from 'node:stream';
import {
  GetObjectCommand,
  type GetObjectCommandOutput,
  type HeadObjectCommandOutput,
} from '@aws-sdk/client-s3';
import { closeConnectionAfter, isRangeNotSatisfiable } from '../../s3/download.js';
import { translateS3Error } from '../../s3/errors.js';
import { readRange, totalOf } from '../../s3/range-read.js';
import { getRangeInto } from '../../s3/raw-get.js';
import { StorageError } from '../errors.js';
import {
  checkReadArgs,
  closedHandle,
  type LentBytes,
  type OpenReadOptions,
  type ReadHandle,
  streamFromHandle,
} from '../read-handle.js';
import type { Entry, StoragePath } from '../types.js';
import { headEntry } from './entries.js';
import { isDirMarkerHead } from './keys.js';
import type { S3Storage } from './s3-storage.js';

/**
 * The S3 read handle (contract in src/storage/read-handle.ts).
 *
 * Open = one GET of the first part's range (`partSize`, Connection: close as every first GET):
 * its headers give the entry (size from Content-Range, mtime from X-Amz-Meta-Mtime, content type,
 * metadata, ETag) and its body is kept unread for a first read from the start — so a small file
 * opened and read costs one request, no HEAD. A first read elsewhere drops that body.
 *
 * Reads: the object is cut into `partSize` parts. A read that continues where the previous one
 * ended (or falls in a part already held) is sequential: it is served from whole parts fetched
 * ahead, up to `partConcurrency` parts past the one being read, each reserved from the byte
 * budget without waiting (no budget: the read falls back to a GET of its own range). Parts more
 * than one behind the reading position are dropped, so a handle holds at most
 * (parts one read spans + concurrency + 1) parts. Any other read is one ranged GET of exactly
 * its bytes. Every GET carries If-Match with the opened ETag: a replaced object fails the read
 * with Conflict, never mixing versions. Bodies that end early are fetched again from where they
 * stopped (download.ts `streamRange`); a part is read straight into its buffer where the
 * connection allows (s3/raw-get.ts). `lend` reads the same way but hands out a read within one
 * part as a view of the part's buffer, which is neither dropped into the budget's kept buffers nor
 * refilled until the borrower releases it (an SFTP READ reply is then copied once, straight into
 * its SSH packet).
 */
const keep = () => {};

export async function openS3Read(
  s3: S3Storage,
  path: StoragePath,
  options: OpenReadOptions = {},
): Promise<ReadHandle> {
  if (path === '') throw new StorageError('IsADirectory', 'is a folder: /', { path });
  const key = s3.keys.file(path);
  const where = { operation: 'GetObject', bucket: s3.bucket, key, path };
  const tuning = s3.download;
  const ps = tuning.partSize;
  const controller = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, controller.signal]) : controller.signal;
  setMaxListeners(0, signal);

  const command = new GetObjectCommand({
    Bucket: s3.bucket,
    Key: key,
    Range: `bytes=0-${ps - 1}`,
    ...s3.params.read,
  });
  if (tuning.closeFirstConnection) closeConnectionAfter(command);
  let first: GetObjectCommandOutput | undefined;
  let head: HeadObjectCommandOutput | undefined;
  try {
    first = await s3.client.send(command, { abortSignal: signal });
  } catch (err) {
    head = await openFailed(s3, path, err, where);
  }
  const size = first ? (totalOf(first.ContentRange) ?? first.ContentLength ?? 0) : (head?.ContentLength ?? 0);
  const meta = (first ?? head) as HeadObjectCommandOutput;
  if (isDirMarkerHead(size, meta.ContentType)) {
    (first?.Body as Readable | undefined)?.destroy();
    throw new StorageError('IsADirectory', `is a folder: /${path}`, { path });
  }
  const entry: Entry = headEntry(path, { ...meta, ContentLength: size }, 'file');
  const etag = meta.ETag;
  let firstBody = first?.Body as Readable | undefined;
  const dropFirstBody = () => {
    firstBody?.destroy();
    firstBody = undefined;
  };

  const get = (from: number, to: number, sig: AbortSignal) =>
    s3.client.send(
      new GetObjectCommand({
        Bucket: s3.bucket,
        Key: key,
        Range: `bytes=${from}-${to}`,
        IfMatch: etag,
        ...s3.params.read,
      }),
      { abortSignal: sig },
    );
  const input = { Bucket: s3.bucket, Key: key, IfMatch: etag, ...s3.params.read };
  const fetch = (from: number, to: number, sig: AbortSignal, body?: Readable, into?: Buffer) =>
    readRange(
      (f, t) => get(f, t, sig),
      from,
      to,
      tuning.partAttempts,
      sig,
      body,
      into,
      (f, buf) => getRangeInto(s3.client, input, f, buf, sig),
    ).catch((err) => {
      throw StorageError.is(err) ? err : translateS3Error(err, where);
    });

  /**
   * A part read ahead. Its buffer and its reservation go back to the budget (the buffer kept for
   * the next part, buffer-budget.ts) once the part is dropped, its fetch has settled and no read
   * is still copying out of it or has it lent (`users`): until then the buffer is memory in use,
   * and its reservation says so. A part dropped before its fetch settled, with no user, has its
   * fetch stopped (`stop`).
   */
  interface Part {
    data: Promise<Buffer>;
    buffer: Buffer;
    release: () => void;
    stop: () => void;
    users: number;
    dropped: boolean;
    settled: boolean;
  }
  const parts = new Map<number, Part>();
  const count = Math.ceil(size / ps);
  let lastEnd = 0;
  let closed = false;

  const recycle = (p: Part) => {
    if (!p.dropped || p.users !== 0 || !p.settled) return; // users -1: recycled already
    p.users = -1; // recycled once
    s3.budget.recycle(p.buffer, p.buffer.length); // kept before the reservation wakes a waiter
    p.release();
  };
  const drop = (k: number) => {
    const p = parts.get(k);
    if (!p) return;
    parts.delete(k);
    p.dropped = true;
    if (!p.settled && p.users === 0) p.stop();
    recycle(p);
  };
  // A reservation waiting for budget takes back the parts no read is using (budget `reclaimable`):
  // a later read fetches again what it needs (tryReserve refuses while someone waits).
  // Unregistered when the handle closes or the caller's signal aborts (both abort `signal`).
  const unregister = s3.budget.reclaimable(() => {
    for (const [k, p] of [...parts]) if (p.users === 0) drop(k);
  });
  signal.addEventListener('abort', unregister, { once: true });
  /** Part `k`, fetched ahead into a budget reservation; undefined when the budget is spent. */
  const part = (k: number): Part | undefined => {
    const held = parts.get(k);
    if (held) return held;
    const from = k * ps;
    const to = Math.min(size, from + ps) - 1;
    const release = s3.budget.tryReserve(to - from + 1);
    if (!release) return undefined;
    const body = k === 0 ? firstBody : undefined;
    if (k === 0) firstBody = undefined;
    // A short part (a small file, the last part) gets a buffer of its own size: a kept full-size
    // one would hold ps bytes against a reservation of only its length.
    const buffer = to - from + 1 === ps ? s3.budget.allocate(ps) : Buffer.allocUnsafe(to - from + 1);
    const stopper = new AbortController();
    const data = fetch(from, to, AbortSignal.any([signal, stopper.signal]), body, buffer);
    const stop = () => stopper.abort();
    const p: Part = { data, buffer, release, stop, users: 0, dropped: false, settled: false };
    data.then(
      () => {
        p.settled = true;
        recycle(p);
      },
      () => {
        p.settled = true;
        if (parts.get(k) === p)
          drop(k); // a later read tries again
        else recycle(p);
      },
    );
    parts.set(k, p);
    return p;
  };

  /**
   * Sequential bytes offset..end from the parts read ahead; undefined when the budget is spent.
   * `lend`: a range inside one part comes back as a view of the part's buffer, the part kept
   * (`users`) until the borrower releases it; otherwise (and always without `lend`) a copy.
   */
  const readSequential = async (
    offset: number,
    end: number,
    lend: boolean,
  ): Promise<LentBytes | undefined> => {
    const k0 = Math.floor(offset / ps);
    const k1 = Math.floor((end - 1) / ps);
    for (const k of [...parts.keys()]) if (k < k0 - 1) drop(k);
    const needed: Part[] = [];
    for (let k = k0; k <= k1; k++) {
      const p = part(k);
      if (!p) return undefined;
      needed.push(p);
    }
    for (let k = k1 + 1; k < Math.min(count, k1 + 1 + tuning.concurrency); k++) if (!part(k)) break;
    for (const p of needed) p.users++;
    let lent = false;
    try {
      if (lend && needed.length === 1) {
        const p = needed[0]!;
        const data = await p.data;
        const base = k0 * ps;
        const bytes = data.subarray(offset - base, Math.min(end, base + data.length) - base);
        lent = true;
        let released = false;
        const release = () => {
          if (released) return;
          released = true;
          p.users--;
          recycle(p);
        };
        return { bytes, release };
      }
      const out = Buffer.allocUnsafe(end - offset);
      for (const [i, p] of needed.entries()) {
        const data = await p.data;
        const base = (k0 + i) * ps;
        const from = Math.max(offset, base);
        const to = Math.min(end, base + data.length);
        data.copy(out, from - offset, from - base, to - base);
      }
      return { bytes: out, release: keep };
    } finally {
      if (!lent)
        for (const p of needed) {
          p.users--;
          recycle(p);
        }
    }
  };

  const readAt = async (
    offset: number,
    length: number,
    lend: boolean,
    sigOpt?: AbortSignal,
  ): Promise<LentBytes> => {
    checkReadArgs(offset, length);
    if (closed) throw closedHandle(path);
    const end = Math.min(size, offset + length);
    if (offset >= end) return { bytes: Buffer.alloc(0), release: keep };
    const sequential = offset === lastEnd || parts.has(Math.floor(offset / ps));
    lastEnd = end;
    if (offset >= ps || !sequential) dropFirstBody();
    signal.throwIfAborted();
    sigOpt?.throwIfAborted();
    try {
      const got = sequential ? await readSequential(offset, end, lend) : undefined;
      if (got) return got;
      // Combined only for a GET of the read's own: AbortSignal.any per READ (32 of them per MiB of
      // an SFTP get) was ~60 % of the JS of the read path, and its weak references GC work.
      const sig = sigOpt ? AbortSignal.any([signal, sigOpt]) : signal;
      return { bytes: await fetch(offset, end - 1, sig), release: keep };
    } catch (err) {
      if (closed) throw closedHandle(path);
      throw err;
    }
  };

  const handle: ReadHandle = {
    entry,
    read: async (offset, length, opts) => (await readAt(offset, length, false, opts?.signal)).bytes,
    lend: (offset, length, opts) => readAt(offset, length, true, opts?.signal),
    stream: (offset, length, opts) => streamFromHandle(handle, offset, length, opts),
    close: async () => {
      if (closed) return;
      closed = true;
      controller.abort();
      dropFirstBody();
      for (const k of [...parts.keys()]) drop(k);
    },
  };
  return handle;
}

/**
 * The open's GET failed: an empty object (416 to any range) is opened from a HEAD; NotFound or
 * IsADirectory as `read` says them; anything else translated.
 */
async function openFailed(
  s3: S3Storage,
  path: StoragePath,
  err: unknown,
  where: Parameters<typeof translateS3Error>[1],
): Promise<HeadObjectCommandOutput> {
  if (isRangeNotSatisfiable(err)) {
    const head = await s3.head(path);
    if (head) return head;
  }
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  if (e.name === 'NoSuchKey' || e.$metadata?.httpStatusCode === 404 || isRangeNotSatisfiable(err)) {
    if ((await s3.firstKeyUnder(path)) !== undefined) {
      throw new StorageError('IsADirectory', `is a folder: /${path}`, { path });
    }
  }
  throw translateS3Error(err, where);
}
