import { StorageError } from '../../storage/errors.js';
import type { HashAlgorithm } from '../../storage/types.js';
import { virtualPath } from './paths.js';
import type { SftpChannel } from './sftp.js';
import { unsupported } from './status.js';
import { extendedReply, sendPacket, sshString, uint64, WireReader } from './wire.js';

/** Handles one channel may hold open (files and listings together). */
export const MAX_HANDLES = 256;
/** Largest SFTP packet ssh2 accepts from a client (its `_maxInPktLen`). */
const MAX_PACKET = 256 * 1024;
/** Room for a WRITE's header (type, id, handle, offset, length) below MAX_PACKET. */
const PACKET_OVERHEAD = 1024;

/**
 * The extensions named in VERSION (so OpenSSH uses them). `hardlink@openssh.com` is not named:
 * OpenSSH then refuses `ln` itself; if a client sends it anyway it is refused below.
 */
export const ADVERTISED: Record<string, string> = {
  'posix-rename@openssh.com': '1',
  'statvfs@openssh.com': '2',
  'fstatvfs@openssh.com': '2',
  'fsync@openssh.com': '1',
  'limits@openssh.com': '1',
  'copy-data': '1',
  'check-file': '1',
};

/** `check-file` algorithms, in the order we prefer them, → the session's names. */
const HASHES: Record<string, HashAlgorithm> = { sha256: 'sha256', md5: 'md5' };

/**
 * An EXTENDED request. Unknown names and malformed data are refused (OP_UNSUPPORTED / FAILURE)
 * without closing the channel.
 */
export async function handleExtended(ch: SftpChannel, id: number, name: string, data: Buffer | undefined) {
  const r = new WireReader(data ?? Buffer.alloc(0));
  const need = <T>(v: T | undefined): T => {
    if (v === undefined) throw new StorageError('InvalidArgument', `malformed ${name} request`);
    return v;
  };
  switch (name) {
    case 'posix-rename@openssh.com': {
      const from = need(r.string());
      const to = need(r.string());
      await ch.session.rename(virtualPath(from), virtualPath(to), { replace: true, signal: ch.signal });
      return ch.ok(id);
    }
    case 'statvfs@openssh.com':
      return statvfs(ch, id, virtualPath(need(r.string())));
    case 'fstatvfs@openssh.com':
      return statvfs(ch, id, ch.state(need(r.bytes())).path);
    case 'fsync@openssh.com':
      // Nothing of a file being written is visible before CLOSE (it appears whole then, or not
      // at all), so there is nothing to make durable earlier: fsync succeeds doing nothing.
      ch.state(need(r.bytes()));
      return ch.ok(id);
    case 'limits@openssh.com':
      return sendPacket(
        ch.sftp,
        extendedReply(
          id,
          Buffer.concat([
            uint64(MAX_PACKET),
            uint64(Math.min(ch.ctx.options.maxReadLength, MAX_PACKET - PACKET_OVERHEAD)),
            uint64(MAX_PACKET - PACKET_OVERHEAD),
            uint64(MAX_HANDLES),
          ]),
        ),
      );
    case 'hardlink@openssh.com':
      throw unsupported('hard links are');
    case 'copy-data':
      return copyData(ch, id, r, need);
    case 'check-file-name':
    case 'check-file-handle':
      return checkFile(ch, id, name, r, need);
    default:
      throw unsupported(`the extension ${JSON.stringify(name.slice(0, 64))} is`);
  }
}

/** statvfs from `Session.about` (the quota when one is set), in 4 KiB blocks. */
async function statvfs(ch: SftpChannel, id: number, path: string): Promise<void> {
  const space = await ch.session.about(path);
  const block = 4096;
  // Unknown figures (S3 has no size): a large free space rather than "full".
  const free = space.free ?? 2 ** 50;
  const total = space.total ?? (space.used ?? 0) + free;
  const blocks = (n: number) => uint64(Math.floor(n / block));
  sendPacket(
    ch.sftp,
    extendedReply(
      id,
      Buffer.concat([
        uint64(block), // f_bsize
        uint64(block), // f_frsize
        blocks(total), // f_blocks
        blocks(free), // f_bfree
        blocks(free), // f_bavail
        uint64(0), // f_files
        uint64(0), // f_ffree
        uint64(0), // f_favail
        uint64(0), // f_fsid
        uint64(2), // f_flag: ST_NOSUID
        uint64(255), // f_namemax
      ]),
    ),
  );
}

/**
 * copy-data: a server-side copy (Session.copy) when it copies a whole file into a file just
 * opened for writing with nothing written (OpenSSH's `cp`). The destination's write handle is
 * given up (its empty upload never appears) and its CLOSE then answers OK; partial ranges are
 * refused.
 */
async function copyData(
  ch: SftpChannel,
  id: number,
  r: WireReader,
  need: <T>(v: T | undefined) => T,
): Promise<void> {
  const src = ch.state(need(r.bytes()));
  const readOffset = need(r.uint64());
  const length = need(r.uint64());
  const dst = ch.state(need(r.bytes()));
  const writeOffset = need(r.uint64());
  if (src.kind !== 'read')
    throw new StorageError('InvalidArgument', 'copy-data reads from a file opened for reading');
  if (dst.kind !== 'write' || dst.copied) {
    throw new StorageError('InvalidArgument', 'copy-data writes to a file opened for writing');
  }
  const whole =
    readOffset === 0 &&
    writeOffset === 0 &&
    (length === 0 || length >= src.handle.entry.size) &&
    dst.end === 0 &&
    (dst.mode === 'truncate' || dst.mode === 'exclusive');
  if (!whole) throw unsupported('copy-data of part of a file (only whole files, server-side) is');
  await dst.handle.abort();
  dst.copied = await ch.session.copy(src.path, dst.path, { signal: ch.signal });
  ch.ok(id);
}

/**
 * check-file-name / check-file-handle (draft-ietf-secsh-filexfer-extensions-00 §3): one hash of
 * the whole file with the first algorithm of the client's list the session offers (sha256, md5).
 */
async function checkFile(
  ch: SftpChannel,
  id: number,
  name: string,
  r: WireReader,
  need: <T>(v: T | undefined) => T,
): Promise<void> {
  let path: string;
  if (name === 'check-file-handle') {
    const s = ch.state(need(r.bytes()));
    if (s.kind !== 'read')
      throw new StorageError('InvalidArgument', 'check-file-handle needs a file opened for reading');
    path = s.path;
  } else path = virtualPath(need(r.string()));
  const wanted = need(r.string()).split(',');
  const start = need(r.uint64());
  const length = need(r.uint64());
  const blockSize = need(r.uint32());
  if (start !== 0 || length !== 0 || blockSize !== 0) throw unsupported('check-file of part of a file is');
  const algorithm = wanted.find((a) => HASHES[a] !== undefined);
  if (algorithm === undefined)
    throw unsupported(`check-file with ${wanted.join(',').slice(0, 100)} (offered: md5, sha256) is`);
  const hex = await ch.session.hash(path, HASHES[algorithm] as HashAlgorithm, { signal: ch.signal });
  sendPacket(ch.sftp, extendedReply(id, Buffer.concat([sshString(algorithm), Buffer.from(hex, 'hex')])));
}
