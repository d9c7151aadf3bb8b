import { createRequire } from 'node:module';
import type { Connection, ServerChannel } from 'ssh2';
import type { InboundMemory } from './types.js';

const require = createRequire(import.meta.url);
/** ssh2's channel window: granted at open, topped up to this at half (Channel.js). */
const { MAX_WINDOW } = require('ssh2/lib/Channel.js') as { MAX_WINDOW: number };

/**
 * How much the client may send on an SSH channel before it waits for us (the channel window), on
 * ssh2 1.17's internals (node_modules/ssh2/lib/server.js, Channel.js; test/sftp/
 * sftp-open-window.test.ts fails if an ssh2 upgrade moves them).
 *
 * ssh2 grants every channel 2 MiB when it opens and tops it up to 2 MiB whenever half is used,
 * whatever memory holds: 20 uploads whose handles wait for part buffers still had 20 × 2 MiB on
 * their way (docs/notes/issue-9.md "Session 6/7: memory"). Here a channel opens with OPEN_WINDOW,
 * and its window grows from there — doubling each time the client used half of it, up to ssh2's
 * 2 MiB — only while the transfers are not waiting for memory; while they are, it is topped up to
 * TIGHT_WINDOW at most. A lone upload reaches 2 MiB after its first ~1.5 MiB, as fast as before.
 */
export const OPEN_WINDOW = 256 * 1024;
/** The window a channel is topped up to while part buffers are waited for or the budget is full. */
export const TIGHT_WINDOW = 256 * 1024;
export { MAX_WINDOW };

/** Whether channels get the small window: part buffers are waited for, or the budget is full. */
export function tightMemory(memory: InboundMemory | undefined): boolean {
  return memory?.waiting === true || memory?.full === true;
}

interface ProtocolInternals {
  channelOpenConfirm(remote: number, local: number, window: number, packetSize: number): void;
  channelWindowAdjust(id: number, amount: number): void;
}

/**
 * Accept a session channel (`accept`: ssh2's) with OPEN_WINDOW instead of ssh2's 2 MiB: told to the
 * client in CHANNEL_OPEN_CONFIRMATION, and set where ssh2 counts it (the session's channel info,
 * which its sftp or exec channel takes over), so ssh2's accounting and the client's agree.
 */
export function acceptWithWindow<T>(client: Connection, accept: () => T): T {
  const proto = (client as unknown as { _protocol: ProtocolInternals })._protocol;
  const own = Object.hasOwn(proto, 'channelOpenConfirm');
  const confirm = proto.channelOpenConfirm;
  proto.channelOpenConfirm = function (remote, local, window, packetSize) {
    confirm.call(this, remote, local, Math.min(window, OPEN_WINDOW), packetSize);
  };
  try {
    const session = accept();
    const info = (session as unknown as { _chanInfo?: { incoming: { window: number } } })._chanInfo;
    if (info) info.incoming.window = Math.min(info.incoming.window, OPEN_WINDOW);
    return session;
  } finally {
    if (own) proto.channelOpenConfirm = confirm;
    else delete (proto as Partial<ProtocolInternals>).channelOpenConfirm;
  }
}

/**
 * The window a channel is topped up to: `level`, which starts at the window the channel opened
 * with and doubles (up to MAX_WINDOW) at each top-up while `tight` says no; TIGHT_WINDOW at most
 * while it says yes.
 */
export class WindowTarget {
  private level: number;
  constructor(
    opened: number,
    private readonly tight: () => boolean,
  ) {
    this.level = Math.min(Math.max(opened, OPEN_WINDOW), MAX_WINDOW);
  }

  /** What the window may be now. */
  get target(): number {
    return this.tight() ? Math.min(TIGHT_WINDOW, this.level) : this.level;
  }

  /** The window to grant up to now that `window` bytes are left (undefined: none yet). */
  topUp(window: number): number | undefined {
    const tight = this.tight();
    const target = tight ? Math.min(TIGHT_WINDOW, this.level) : this.level;
    if (window > target / 2) return undefined;
    if (!tight) this.level = Math.min(this.level * 2, MAX_WINDOW);
    return tight ? target : this.level;
  }
}

interface ChannelInternals {
  incoming: { window: number };
  outgoing: { id: number; state: string };
  _client: { _protocol: ProtocolInternals };
  _waitChanDrain: boolean;
  readableFlowing: boolean | null;
  readableLength: number;
  push(chunk: unknown, encoding?: unknown): boolean;
  _read(size: number): void;
}

/**
 * Size the window of an exec channel (scp) as above (call before anything reads the channel: it
 * listens for 'data'). ssh2 tops a Channel up to 2 MiB on every chunk its stream takes while
 * below its 2 MiB buffer, and on every read after that. Here the
 * bytes in the stream's buffer count as window (what arrived and is not read), and nothing is
 * granted while the reader paused the stream (ChannelReader: its bytes wait for their handle),
 * so a paused scp upload holds its window and its buffer, not 2 MiB of each.
 */
export function sizeChannelWindow(ch: ServerChannel, tight: () => boolean): void {
  const c = ch as unknown as ChannelInternals;
  const window = new WindowTarget(c.incoming.window, tight);
  const topUp = () => {
    c._waitChanDrain = false;
    if (c.readableFlowing === false || c.outgoing.state === 'closed') return;
    const buffered = c.readableLength;
    const to = window.topUp(c.incoming.window + buffered);
    if (to === undefined) return;
    const amount = to - buffered - c.incoming.window;
    if (amount <= 0) return;
    c.incoming.window += amount;
    c._client._protocol.channelWindowAdjust(c.outgoing.id, amount);
  };
  const push = c.push;
  c.push = function (this: unknown, chunk: unknown, encoding?: unknown) {
    const taken = push.call(this, chunk, encoding);
    if (chunk === null) return taken;
    topUp();
    return false; // ssh2 tops up to its 2 MiB itself on anything else
  };
  c._read = () => {
    topUp();
  };
  // A stream calls `_read` once per push at most (until the next push): when it did while the
  // reader had it paused, or while the window was still wide, it is not called again on resume or
  // as the buffer drains. So top up after each chunk taken and on resume as well (after the
  // reader's own handler, which may pause it again).
  const later = () => queueMicrotask(topUp);
  ch.on('data', later);
  ch.on('resume', later);
}
