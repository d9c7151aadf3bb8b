import type { Socket } from 'node:net';
import type { ServerChannel } from 'ssh2';
import { normalizeVirtual } from '../../session/resolve.js';
import { StorageError } from '../../storage/errors.js';
import { ChannelReader } from './channel-reader.js';
import { socketRoom } from './socket-writes.js';
import type { SshChannelContext } from './types.js';

/** Longest control line accepted (OpenSSH's own buffer is 2 KiB; names are at most ~1 KiB). */
export const MAX_LINE = 8192;

/** The transfer cannot go on (OpenSSH's `exit(1)` paths): the message was sent as `\x02`/`\x01`. */
export class ScpFatal extends Error {
  override readonly name = 'ScpFatal';
}

/** What both directions of the legacy SCP protocol share: flags, the channel, the error count. */
export interface ScpFlags {
  recursive: boolean;
  preserve: boolean;
  /** `-d`: the target must be a folder (several sources). */
  targetIsDir: boolean;
}

/**
 * One SCP exchange on an exec channel: the channel's input (`reader`), output with backpressure,
 * the protocol's acknowledgements and warnings, and the error count that decides the exit status.
 * `signal` fires when the channel closes (the client went away): every Session call gets it.
 */
export class ScpIo {
  readonly reader: ChannelReader;
  errors = 0;
  private closed = false;

  constructor(
    readonly ctx: SshChannelContext,
    private readonly channel: ServerChannel,
    readonly signal: AbortSignal,
  ) {
    this.reader = new ChannelReader(channel, undefined, ctx.memory);
    signal.addEventListener('abort', () => {
      this.closed = true;
    });
  }

  /**
   * Write to the client, waiting while the SSH window is full, or while the connection's socket
   * holds more than socket-writes.ts SOCKET_BACKLOG (a client that granted a large window and
   * reads nothing: ssh2 would write all the file into memory).
   */
  async send(data: Buffer | string): Promise<void> {
    if (this.closed) throw new ScpFatal('the channel closed');
    if (this.channel.write(data)) {
      await socketRoom(this.socket, this.signal);
      return;
    }
    await new Promise<void>((resolve, reject) => {
      const done = () => {
        this.channel.off('drain', done);
        this.signal.removeEventListener('abort', gone);
        resolve();
      };
      const gone = () => {
        this.channel.off('drain', done);
        reject(new ScpFatal('the channel closed'));
      };
      this.channel.on('drain', done);
      this.signal.addEventListener('abort', gone, { once: true });
    });
  }

  /** Acknowledge the last message. */
  ok(): Promise<void> {
    return this.send(ACK);
  }

  /**
   * A warning (`\x01scp: message`): the client prints it, skips the file it was about and goes
   * on; the exit status becomes 1. The message names virtual paths only (session errors do).
   */
  async warn(message: string): Promise<void> {
    this.errors++;
    await this.send(`\x01scp: ${oneLine(message)}\n`);
  }

  /** A fatal error (`\x02`): the client stops. */
  async fatal(message: string): Promise<never> {
    this.errors++;
    await this.send(`\x02scp: ${oneLine(message)}\n`).catch(() => {});
    throw new ScpFatal(message);
  }

  /** `protocol error: …` as OpenSSH says it, then stop. */
  protocolError(why: string): Promise<never> {
    return this.fatal(`protocol error: ${why}`);
  }

  /**
   * The client's answer to what we sent (OpenSSH `response()`): true for `\0`; false for a
   * warning (`\x01…\n`, the client skips this file); a fatal one (`\x02…\n`) or the end of the
   * input stops the transfer.
   */
  async response(): Promise<boolean> {
    const b = await this.reader.byte();
    if (b === undefined) throw new ScpFatal('lost connection');
    if (b === 0) return true;
    const rest = (await this.reader.line(MAX_LINE)) ?? Buffer.alloc(0);
    this.errors++;
    if (b === 2) throw new ScpFatal(`the client stopped: ${rest.toString('utf8')}`);
    return false;
  }

  /** Send a line and wait for the client's answer (see `response`). */
  async sendAndWait(data: Buffer | string): Promise<boolean> {
    await this.send(data);
    return this.response();
  }

  /** The connection's socket (ssh2's Client `_sock`). */
  private get socket(): Socket | undefined {
    return (this.channel as unknown as { _client?: { _sock?: Socket } })._client?._sock;
  }

  /** A Session error as the client may see it; anything else is logged and called internal. */
  describe(err: unknown, vpath: string): string {
    if (err instanceof StorageError) return err.message;
    this.ctx.logger.error({ err, path: vpath }, 'scp: unexpected error');
    return `${vpath}: internal server error`;
  }
}

const ACK = Buffer.from([0]);

/** Control characters would break the one-line message format. */
function oneLine(message: string): string {
  return message.replace(/[\r\n]+/g, ' ');
}

/** `dir` + `/` + `name` as a client path (`.`, `/`, `a/` all joined without doubling `/`). */
export function joinPath(dir: string, name: string): string {
  if (dir === '') return name;
  return dir.endsWith('/') ? `${dir}${name}` : `${dir}/${name}`;
}

/** A client path as the user sees it, for messages (session errors already name it this way). */
export function vpath(path: string): string {
  try {
    return normalizeVirtual(path);
  } catch {
    return JSON.stringify(path);
  }
}
