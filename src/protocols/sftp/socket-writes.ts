import type { Socket } from 'node:net';
import { flushed, trackSocket } from './packet-pool.js';

/**
 * Coalesce the writes ssh2 makes to `socket` within one tick into one `writev`. ssh2 writes every
 * SSH packet on its own (a 256 KiB SFTP DATA reply is eight 32 KiB CHANNEL_DATA packets for
 * OpenSSH), and with `setNoDelay(true)` each write is its own syscall and TCP segment train; corked
 * until the next tick, they leave together. Nothing waits longer than the current tick.
 * After each such write, a socket with nothing left queued tells the packet pool (packet-pool.ts)
 * that the packets written to it may be reused.
 */
export function coalesceWrites(socket: Socket): void {
  const write = socket.write;
  let corked = false;
  trackSocket(socket);
  // The queue emptied after a write that had to wait.
  socket.on('drain', () => {
    if (socket.writableLength === 0 && !socket.destroyed) flushed(socket);
  });
  const uncork = () => {
    corked = false;
    socket.uncork();
    if (socket.writableLength === 0 && !socket.destroyed) flushed(socket);
  };
  socket.write = function (this: Socket, ...args: Parameters<Socket['write']>) {
    if (!corked && !socket.destroyed) {
      corked = true;
      socket.cork();
      process.nextTick(uncork);
    }
    return write.apply(this, args);
  } as Socket['write'];
}

/**
 * Bytes queued in a connection's socket (written, not yet taken by the kernel) past which its
 * channels stop making more output for the client until the socket drains: SFTP holds requests
 * (sftp.ts READ_HOLD_AT counts them), SCP waits before its next write (scp-io.ts `send`). ssh2
 * writes whatever the channel window allows, and a client may grant up to 4 GiB of window and then
 * read nothing: every READ reply or file chunk then piled up in the server's memory.
 */
export const SOCKET_BACKLOG = 8 * 1024 * 1024;

const drains = new WeakMap<Socket, Set<() => void>>();

/**
 * Call `fn` each time `socket`'s write queue has emptied after it filled ('drain'); returns what
 * stops it. One listener on the socket however many channels listen.
 */
export function onDrain(socket: Socket, fn: () => void): () => void {
  let listeners = drains.get(socket);
  if (listeners === undefined) {
    const set = new Set<() => void>();
    socket.on('drain', () => {
      for (const f of [...set]) f();
    });
    drains.set(socket, set);
    listeners = set;
  }
  const own = listeners;
  own.add(fn);
  return () => own.delete(fn);
}

/** Resolves once `socket` holds at most SOCKET_BACKLOG bytes queued, or it closed, or `signal` aborted. */
export async function socketRoom(socket: Socket | undefined, signal: AbortSignal): Promise<void> {
  if (socket === undefined || socket.writableLength <= SOCKET_BACKLOG) return;
  await new Promise<void>((resolve) => {
    const done = () => {
      off();
      socket.off('close', done);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const off = onDrain(socket, done);
    socket.once('close', done);
    signal.addEventListener('abort', done, { once: true });
    if (socket.destroyed || signal.aborted) done();
  });
}
