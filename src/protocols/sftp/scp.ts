import { ChannelEnded } from './channel-reader.js';
import { ScpFatal, type ScpFlags, ScpIo } from './scp-io.js';
import { runSink } from './scp-sink.js';
import { runSource } from './scp-source.js';
import type { ExecCommand } from './types.js';

/**
 * `exec scp -t|-f [-r] [-p] [-d] [-v] [--] PATH…`: the remote end of OpenSSH's legacy SCP
 * protocol (`scp -O`; the default mode of OpenSSH ≥ 9 uses the SFTP subsystem instead). Sink
 * (`-t`, upload) in scp-sink.ts, source (`-f`, download) in scp-source.ts, what both share in
 * scp-io.ts. Paths are the client's, as the user sees them (relative ones from `/`); the session
 * resolves them (chroot, mounts, permissions).
 *
 * Exit status: 0 when every file went through, 1 otherwise (as OpenSSH's scp). Usage errors go to
 * stderr. Nothing is left half-written: an upload that does not complete is aborted (its channel
 * closing aborts the write handle through the signal).
 */
export const runScp: ExecCommand = async (ctx, argv, channel) => {
  let args: ScpArgs;
  try {
    args = parseScpArgs(argv);
  } catch (err) {
    channel.stderr.write(`scp: ${(err as Error).message}\n`);
    return 1;
  }
  const closed = new AbortController();
  const onClose = () => closed.abort(new ChannelEnded('the channel closed'));
  channel.once('close', onClose);
  // A write racing the client's disconnect must not become an unhandled 'error'.
  const onError = (err: Error) => ctx.logger.debug({ err }, 'scp: channel error');
  channel.on('error', onError);
  const io = new ScpIo(ctx, channel, closed.signal);
  try {
    if (args.mode === 'sink') await runSink(io, args.flags, args.paths[0]!);
    else await runSource(io, args.flags, args.paths);
  } catch (err) {
    if (!(err instanceof ScpFatal || err instanceof ChannelEnded || closed.signal.aborted)) {
      ctx.logger.error({ err }, 'scp: unexpected error');
      await io.fatal('internal server error').catch(() => {});
    }
    return 1;
  } finally {
    io.reader.dispose();
    channel.off('close', onClose);
    channel.off('error', onError);
  }
  return io.errors > 0 ? 1 : 0;
};

export interface ScpArgs {
  mode: 'sink' | 'source';
  flags: ScpFlags;
  paths: string[];
}

/** `scp -t …` / `scp -f …` as OpenSSH's client sends it; an Error saying what is wrong. */
export function parseScpArgs(argv: string[]): ScpArgs {
  if (argv.length === 0 || !/(^|\/)scp$/.test(argv[0]!)) throw new Error('not an scp command');
  let mode: ScpArgs['mode'] | undefined;
  const flags: ScpFlags = { recursive: false, preserve: false, targetIsDir: false };
  let i = 1;
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      i++;
      break;
    }
    if (!a.startsWith('-') || a === '-') break;
    for (const letter of a.slice(1)) {
      if (letter === 't' || letter === 'f') {
        const m = letter === 't' ? 'sink' : 'source';
        if (mode && mode !== m) throw new Error('-t and -f exclude each other');
        mode = m;
      } else if (letter === 'r') flags.recursive = true;
      else if (letter === 'p') flags.preserve = true;
      else if (letter === 'd') flags.targetIsDir = true;
      else if (letter === 'v' || letter === 'T' || letter === 'q') {
        // verbose / no name check / quiet: nothing to do on this side
      } else throw new Error(`unknown option -${letter}`);
    }
  }
  const paths = argv.slice(i);
  if (!mode) {
    throw new Error(
      'this server runs scp only as the remote end of a copy (-t or -f): use scp from your machine',
    );
  }
  if (paths.length === 0) throw new Error('no path given');
  if (mode === 'sink' && paths.length !== 1) throw new Error('ambiguous target');
  return { mode, flags, paths };
}
