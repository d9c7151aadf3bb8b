import type { Logger } from 'pino';
import type { SFTPWrapper } from 'ssh2';
import { StorageError, type StorageErrorCode } from '../../storage/errors.js';

/** SFTP v3 status codes (draft-ietf-secsh-filexfer-02 §7). */
export const SFTP_STATUS = {
  OK: 0,
  EOF: 1,
  NO_SUCH_FILE: 2,
  PERMISSION_DENIED: 3,
  FAILURE: 4,
  BAD_MESSAGE: 5,
  OP_UNSUPPORTED: 8,
} as const;

/**
 * The one StorageError code → SFTP status table. SFTP v3 has no code for "already exists", "not
 * empty", "quota exceeded" …: those are FAILURE, and the session's message (virtual paths only)
 * tells the user which. PermissionDenied is PERMISSION_DENIED, never FAILURE.
 */
const TABLE: Record<StorageErrorCode, number> = {
  NotFound: SFTP_STATUS.NO_SUCH_FILE,
  PermissionDenied: SFTP_STATUS.PERMISSION_DENIED,
  NotSupported: SFTP_STATUS.OP_UNSUPPORTED,
  AlreadyExists: SFTP_STATUS.FAILURE,
  NotEmpty: SFTP_STATUS.FAILURE,
  NotADirectory: SFTP_STATUS.FAILURE,
  IsADirectory: SFTP_STATUS.FAILURE,
  InvalidArgument: SFTP_STATUS.FAILURE,
  Conflict: SFTP_STATUS.FAILURE,
  QuotaExceeded: SFTP_STATUS.FAILURE,
  Transient: SFTP_STATUS.FAILURE,
};

/** The status and message a client gets for `err`. */
export function statusOf(err: unknown): { code: number; message: string } {
  if (err instanceof StorageError) return { code: TABLE[err.code], message: err.message };
  // Not a StorageError: a bug or a library's error, whose message may name anything.
  return { code: SFTP_STATUS.FAILURE, message: 'internal error' };
}

/** Reply to `reqid` with the status for `err`; what is not a StorageError is logged. */
export function replyError(sftp: SFTPWrapper, reqid: number, err: unknown, logger: Logger): void {
  const { code, message } = statusOf(err);
  if (err instanceof StorageError) logger.debug({ code: err.code, msg: err.message }, 'sftp request failed');
  else logger.error({ err }, 'sftp request failed unexpectedly');
  sftp.status(reqid, code, message);
}

/** A refusal for what Ferry does not do (symbolic and hard links, partial copies …). */
export function unsupported(what: string): StorageError {
  return new StorageError('NotSupported', `${what} not supported`);
}
