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
