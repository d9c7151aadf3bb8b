import type { Socket } from 'node:net';

/**
 * An accepted socket's reads land in one buffer kept by the connection, instead of a new one per
 * read, when nothing of a read is referenced once it was parsed.
 *
 * Why: Node reads a socket into a fresh 64 KiB ArrayBuffer per read (malloc'd in C++, outside
 * V8's heap), garbage once ssh2 parsed it but resident until a scavenge. With 20 uploads at
 * ~100 MiB/s that is ~1,600 of them a second; ~40 MiB of them were awaiting the GC at the peak
 * (docs/notes/issue-9.md "Session 8/9: memory"), outside the buffer budget.
 *
 * How: Node's own `onread` option (a user buffer: `net.connect({ onread })`) is not offered for
 * the sockets a `net.Server` accepts, so it is installed on the accepted socket's handle the way
 * Node installs it (net.js `initSocketHandle`: `_handle.useUserBuffer`, and the socket's
 * `kBuffer`/`kBufferCb`/`kBufferGen` fields that `onStreamRead` looks at; the same in Node 20, 22
 * and 24: test/sftp/socket-reads-node.test.ts, scripts/node-matrix.sh). The read is
 * then handed to the socket's 'data' listeners (ssh2's) as a view of that buffer, and `parsed`
 * says afterwards whether the buffer may take the next read: when it may not (a view of it was
 * kept), the next read goes into a new buffer and the reads after it are parsed from a copy the
 * size of the read (what Node's reads cost), until one parsed from a copy would have been
 * reusable. A paused socket, or one with bytes queued in its stream, gets a copy pushed through
 * the stream as Node would (order and back-pressure as before). Without those internals (another
 * Node) nothing is installed and Node's reads go on. After a short read the buffer shrinks to
 * IDLE_SIZE (an idle connection holds 4 KiB, not 64) and grows back once a read fills it.
 */

/** Bytes per read: libuv's suggested size, what Node reads a socket into. */
export const READ_SIZE = 64 * 1024;
/**
 * After a read of at most SHORT_READ bytes (a keepalive, a request: the connection is not busy
 * sending), the next read goes into a buffer of IDLE_SIZE, until a read fills that: an idle
 * connection holds 4 KiB, not 64, for as long as it stays open.
 */
const SHORT_READ = 1024;
export const IDLE_SIZE = 4 * 1024;

export interface ReadParser {
  /** A read of these bytes' buffer is about to be parsed. */
  start(buffer: ArrayBufferLike): void;
  /** It was parsed: whether nothing refers to its bytes any more (its buffer may be reused). */
  parsed(): boolean;
}

/**
 * Counts for tests and benchmarks: reads parsed in place, from a copy, buffers made anew (a view
 * of the last one kept), buffers changed between READ_SIZE and IDLE_SIZE, the size of the buffer
 * the connection that read last reads into next, and sockets whose reads were taken over
 * (`installed`) or left to Node because this Node lacks the internals (`declined`).
 */
export const socketReads = {
  inPlace: 0,
  copied: 0,
  fresh: 0,
  resized: 0,
  nextSize: 0,
  installed: 0,
  declined: 0,
};

interface Handle {
  useUserBuffer?(buf: Uint8Array): void;
}

type Fields = Record<symbol, unknown>;

/** Read `socket` into a reused buffer (see above); false when this Node offers no way to. */
export function reuseSocketReads(socket: Socket, parser: ReadParser): boolean {
  const handle = (socket as unknown as { _handle?: Handle | null })._handle;
  const symbols = Object.getOwnPropertySymbols(socket);
  const field = (name: string) => symbols.find((s) => s.description === name);
  const kBuffer = field('kBuffer');
  const kBufferCb = field('kBufferCb');
  const kBufferGen = field('kBufferGen');
  const fields = socket as unknown as Fields;
  if (
    !handle ||
    typeof handle.useUserBuffer !== 'function' ||
    !kBuffer ||
    !kBufferCb ||
    !kBufferGen ||
    fields[kBuffer] !== null ||
    fields[kBufferCb] !== null ||
    fields[kBufferGen] !== null
  ) {
    socketReads.declined++;
    return false;
  }
  let buffer = Buffer.allocUnsafeSlow(READ_SIZE);
  /** The last read parsed in place left views of its buffer: parse copies until one would not. */
  let copying = false;
  const onRead = (nread: number, into: Uint8Array): boolean => {
    const view = Buffer.from(into.buffer, into.byteOffset, nread);
    if (socket.readableFlowing !== true || socket.readableLength > 0) {
      socketReads.copied++;
      return socket.push(Buffer.from(view));
    }
    const bytes = copying ? Buffer.from(view) : view;
    if (copying) socketReads.copied++;
    else socketReads.inPlace++;
    parser.start(bytes.buffer);
    let reusable = false;
    try {
      socket.emit('data', bytes);
    } finally {
      reusable = parser.parsed();
      const size = nread === buffer.length ? READ_SIZE : nread <= SHORT_READ ? IDLE_SIZE : buffer.length;
      if (!copying && !reusable) {
        // A view of this buffer was kept: the next read goes into a new one.
        buffer = Buffer.allocUnsafeSlow(size);
        socketReads.fresh++;
      } else if (size !== buffer.length) {
        // The handle reads into the old one until `kBufferGen` hands it this one (see below).
        buffer = Buffer.allocUnsafeSlow(size);
        socketReads.resized++;
      }
      copying = !reusable;
      socketReads.nextSize = buffer.length;
    }
    return true;
  };
  fields[kBuffer] = buffer;
  fields[kBufferCb] = onRead;
  // Called by `onStreamRead` after each read: what it returns is the buffer the handle reads into
  // next (kept in `kBuffer` meanwhile, so the GC leaves it alone: the handle holds only a pointer).
  fields[kBufferGen] = () => buffer;
  handle.useUserBuffer(buffer);
  socketReads.installed++;
  return true;
}
