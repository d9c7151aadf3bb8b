import { basename } from 'node:path';
import type { ServerChannel, Session as SshSession } from 'ssh2';
import { runHashCommand } from './exec.js';
import { runScp } from './scp.js';
import { serveSftp } from './sftp.js';
import { ShellSyntaxError, shellWords } from './shell-words.js';
import type { ExecCommand, SshChannelContext } from './types.js';
import { sizeChannelWindow, tightMemory } from './window.js';

/** The hash commands SFTPGo offers over exec (exec.ts). */
const HASH_COMMANDS = new Set(['md5sum', 'sha1sum', 'sha256sum', 'sha512sum']);

/** One session channel: the sftp subsystem or an allowed exec command; nothing else. */
export function routeSession(channel: SshSession, ctx: SshChannelContext, touch?: () => void): void {
  const refuse = (_accept: unknown, reject?: () => void) => reject?.();
  channel.on('pty', refuse);
  channel.on('shell', refuse);
  channel.on('x11', refuse);
  channel.on('auth-agent', refuse);
  channel.on('env', refuse);
  channel.on('signal', refuse);
  channel.on('window-change', refuse);
  channel.on('subsystem', (_accept, reject, info) => {
    ctx.logger.info({ subsystem: info.name.slice(0, 64) }, 'subsystem refused');
    reject?.();
  });
  // ssh2 emits 'sftp' (not 'subsystem') for the sftp subsystem when a listener is there.
  channel.on('sftp', (accept) => {
    const sftp = accept();
    if (touch) watchActivity(sftp, touch);
    try {
      serveSftp(ctx, sftp);
    } catch (err) {
      ctx.logger.error({ err }, 'sftp');
      sftp.end();
    }
  });
  channel.on('exec', (accept, reject, info) => runExec(ctx, info.command, accept, reject, touch));
}

/**
 * An exec request: `scp` (scp.ts) or a hash command (exec.ts), run on the session with its exit
 * status sent back; anything else is refused, and shell syntax (`md5sum a; rm a`) is said so.
 */
function runExec(
  ctx: SshChannelContext,
  command: string,
  accept: () => ServerChannel,
  reject: (() => void) | undefined,
  touch: (() => void) | undefined,
): void {
  const argv = execArgv(command);
  if (argv instanceof ShellSyntaxError) {
    // Said, not just refused: `md5sum a; rm a` must not look like a server fault.
    ctx.logger.info({ reason: argv.message }, 'exec refused: shell syntax');
    const ch: ServerChannel = accept();
    ch.stderr.write(`ferry: ${argv.message}\n`);
    ch.exit(2);
    ch.end();
    return;
  }
  const name = basename(argv?.[0] ?? '');
  const run: ExecCommand | undefined =
    name === 'scp' ? runScp : HASH_COMMANDS.has(name) ? runHashCommand : undefined;
  if (!argv || !run) {
    ctx.logger.info({ command: name.slice(0, 64) }, 'exec refused');
    reject?.();
    return;
  }
  const ch: ServerChannel = accept();
  if (touch) watchActivity(ch, touch);
  sizeChannelWindow(ch, () => tightMemory(ctx.memory));
  endOnOverrun(ch, ctx);
  run(ctx, argv, ch)
    .catch((err: unknown) => {
      ctx.logger.error({ err, command: name }, 'exec');
      return 1;
    })
    .then((code) => {
      if (ch.destroyed) return;
      ch.exit(code);
      ch.end();
    });
}

/**
 * Call `touch` on every chunk the client sends on a channel (ssh2 hands incoming channel data to
 * the channel's or SFTP wrapper's `push`) and every chunk written to it (an SCP download sends for
 * minutes with nothing coming back). Instance properties, so only this channel is affected.
 */
function watchActivity(channel: object, touch: () => void): void {
  const target = channel as {
    push: (...args: unknown[]) => unknown;
    write?: (...args: unknown[]) => unknown;
  };
  const push = target.push;
  target.push = function (this: unknown, ...args: unknown[]) {
    touch();
    return push.apply(this, args);
  };
  const write = target.write;
  if (typeof write === 'function')
    target.write = function (this: unknown, ...args: unknown[]) {
      touch();
      return write.apply(this, args);
    };
}

/**
 * End a channel whose client sends past the window it was granted. ssh2 takes such bytes (it
 * refuses data only at a window of exactly 0) into the channel's stream buffer, so a client that
 * ignores the window was buffered without bound, whatever the reader's pause (SFTP channels:
 * wire.ts `inboundGate` does the same). The input ends (an `scp -t` mid-file aborts its upload)
 * and the channel is closed.
 */
function endOnOverrun(ch: ServerChannel, ctx: SshChannelContext): void {
  const target = ch as unknown as { push: (...args: unknown[]) => unknown; incoming: { window: number } };
  const push = target.push;
  let overrun = false;
  target.push = function (this: unknown, ...args: unknown[]) {
    if (args[0] === null || (!overrun && target.incoming.window >= 0)) return push.apply(this, args);
    if (!overrun) {
      overrun = true;
      ctx.logger.info('exec channel closed: the client sent more than the channel window allows');
      push.call(this, null);
      ch.destroy();
    }
    return false; // nothing more is taken (a push after the end would be a stream error)
  };
}

function execArgv(command: string): string[] | ShellSyntaxError | undefined {
  try {
    const argv = shellWords(command);
    return argv.length > 0 ? argv : undefined;
  } catch (err) {
    return err instanceof ShellSyntaxError ? err : undefined;
  }
}
