import { createHash } from 'node:crypto';
import type { Session } from '../../session/types.js';
import { StorageError } from '../../storage/errors.js';
import type { ExecCommand } from './types.js';

/**
 * `exec md5sum|sha1sum|sha256sum|sha512sum FILE…` as SFTPGo offers them (clients use
 * them to check a transfer without downloading it again). Output as coreutils prints it: one
 * `<hex>  <name>\n` per file, the name as the client gave it. A file that can't be hashed is a
 * line on stderr (`md5sum: <message>`) and the next one follows; the exit status is 1 if any
 * failed. Reading standard input (no FILE, or `-`) is refused: there is none to hash here.
 *
 * md5 and sha256 go through `Session.hash` (the storage may know them without reading the file:
 * a stored checksum); the others read the file through the session (download permission and
 * bandwidth apply either way).
 */
export const runHashCommand: ExecCommand = async (ctx, argv, channel) => {
  const command = (argv[0] ?? '').replace(/^.*\//, '');
  const algorithm = ALGORITHMS[command];
  if (!algorithm) {
    channel.stderr.write(`${command || 'exec'}: not a hash command this server offers\n`);
    return 1;
  }
  const files = argv.slice(1).filter((a, i, all) => !(a === '--' && all.indexOf('--') === i));
  if (files.length === 0 || files.includes('-')) {
    channel.stderr.write(`${command}: reading standard input is not supported: name the files to hash\n`);
    return 1;
  }
  const closed = new AbortController();
  const onClose = () => closed.abort();
  channel.once('close', onClose);
  let failed = false;
  try {
    for (const file of files) {
      if (closed.signal.aborted) return 1;
      try {
        const hex = await hashOf(ctx.session, file, algorithm, closed.signal);
        if (!channel.write(`${hex}  ${file}\n`)) await drained(channel, closed.signal);
      } catch (err) {
        if (closed.signal.aborted) return 1;
        failed = true;
        if (!(err instanceof StorageError))
          ctx.logger.error({ err, path: file }, `${command}: unexpected error`);
        const message = err instanceof StorageError ? err.message : `${file}: internal server error`;
        channel.stderr.write(`${command}: ${message}\n`);
      }
    }
  } finally {
    channel.off('close', onClose);
  }
  return failed ? 1 : 0;
};

type Algorithm = 'md5' | 'sha1' | 'sha256' | 'sha512';

const ALGORITHMS: Record<string, Algorithm | undefined> = {
  md5sum: 'md5',
  sha1sum: 'sha1',
  sha256sum: 'sha256',
  sha512sum: 'sha512',
};

async function hashOf(session: Session, path: string, algorithm: Algorithm, signal: AbortSignal) {
  if (algorithm === 'md5' || algorithm === 'sha256') return session.hash(path, algorithm, { signal });
  const hash = createHash(algorithm);
  for await (const chunk of await session.read(path, { signal })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

function drained(channel: NodeJS.EventEmitter, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      channel.off('drain', done);
      signal.removeEventListener('abort', done);
      resolve();
    };
    channel.on('drain', done);
    signal.addEventListener('abort', done, { once: true });
  });
}
