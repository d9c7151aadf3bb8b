import type { Logger } from 'pino';
import type { ServerChannel, SFTPWrapper } from 'ssh2';
import type { Session } from '../../session/types.js';

/**
 * The contracts inside the SSH protocol module (src/protocols/sftp/). Three parts, each thin:
 *
 * - `server.ts` (`startSshServer`): the SSH transport. Host keys from the store, login through
 *   `SessionManager.login` (password, public key, keyboard-interactive), `setNoDelay(true)` on
 *   every socket, modern algorithms only, banner, idle timeout, PROXY protocol. For each
 *   authenticated client it holds one `Session` and hands each session channel to
 *   `channels.ts` (`routeSession`): the `sftp` subsystem to `serveSftp`, an `exec` of
 *   `scp -t|-f …` to `runScp`, of `md5sum|sha256sum …` to `runHashCommand`; anything else is
 *   refused. It closes the Session when the SSH connection ends (which aborts any write handle
 *   left open: nothing partial reaches S3).
 * - `sftp.ts` (`serveSftp`): SFTP v3 requests → Session calls, one handle table per channel.
 * - `scp.ts` (`runScp`), `exec.ts` (`runHashCommand`): the legacy SCP protocol and the hash
 *   commands SFTPGo offers, on the channel's stdin/stdout.
 *
 * Status codes: `status.ts` holds the one StorageError code → SFTP status table. A protocol
 * module never calls Storage or S3; messages come from the session layer, which names virtual
 * paths only (never a bucket, key prefix or IAM detail).
 */

/** What every channel handler gets for one SSH connection. */
export interface SshChannelContext {
  /** The logged-in user's session (shared by every channel of the connection). */
  session: Session;
  logger: Logger;
  /** Settings that shape the protocol (declared once in src/server/config-schema.ts, `sftp.*`). */
  options: SftpOptions;
  /** The process's transfer memory: client data received but not yet taken is charged to it. */
  memory?: InboundMemory;
}

/**
 * The byte budget every transfer of the process shares (`ferry serve` passes
 * src/s3/buffer-budget.ts's process budget, FERRY_BUFFER_BUDGET): the bytes of WRITEs received
 * but not yet taken by their handles are charged to it, and while it is full a channel grants
 * the client no more window (it waits), so received data plus part buffers stay within it (give
 * or take one SSH window per channel, which the client may still fill).
 */
export interface InboundMemory {
  /** Charge bytes already received (never waits); the release gives them back. */
  charge(bytes: number): () => void;
  /** Receivers read no more: the budget is spent, or received bytes hold their share of it. */
  readonly full: boolean;
  /** Transfers wait for part buffers (the budget is tight: channels get a smaller window). */
  readonly waiting?: boolean;
  /** Called once when something is released and the budget is no longer full. */
  onRoom(fn: () => void): void;
}

export interface SftpOptions {
  /**
   * READDIR: at most this many entries per NAME reply (and at most 128 KiB: clients refuse
   * messages past 256 KiB). OpenSSH asks for the next batch only after this one came: fewer,
   * bigger replies are fewer round trips. Fewer go when the listing waits for S3 (sftp.ts).
   */
  readdirBatch: number;
  /** A write handle with no WRITE for this long is aborted (nothing stored). 0: never. */
  writeIdleTimeoutMs: number;
  /**
   * Largest READ answered (bytes); bigger requests get fewer bytes, as the protocol allows. Told
   * to clients in limits@openssh.com, so OpenSSH asks for exactly this much (64 requests ahead).
   */
  maxReadLength: number;
}

/**
 * The ciphers Ferry can offer, in its default order (AES-GCM uses AES-NI and needs no separate
 * MAC). `sftp.ciphers` picks from these; the client's first choice that the server offers wins
 * (OpenSSH's is chacha20-poly1305), so the order matters only to clients that leave it to us.
 */
export const SSH_CIPHERS = [
  'aes128-gcm@openssh.com',
  'aes256-gcm@openssh.com',
  'chacha20-poly1305@openssh.com',
  'aes128-ctr',
  'aes256-ctr',
] as const;
export type SshCipher = (typeof SSH_CIPHERS)[number];

export const defaultSftpOptions: SftpOptions = {
  readdirBatch: 1000,
  writeIdleTimeoutMs: 10 * 60_000,
  // 255 KiB: the most an OpenSSH client takes (SFTP_MAX_MSG_LENGTH − 1024), so `sftp get` asks
  // for an eighth of the READs it asked for at 32 KiB — for it, its ssh and this server a request
  // each to send, parse and answer. A reply goes out as SSH packets of 32 KiB copied straight
  // from the part read ahead, and waits for the client's window as a view of that part (sftp.ts
  // `dataWindow`): at 255 KiB before that, replies were copied and queued in ssh2 for want of
  // window, and set off a major GC every ~7 MiB (docs/notes/issue-9.md "Session 3: speed",
  // "Session 8: download").
  maxReadLength: 255 * 1024,
};

/**
 * Serve SFTP v3 on `sftp` until the channel closes. Every open handle is closed or aborted when
 * the channel ends (a write handle not CLOSEd by the client is aborted: no object appears).
 */
export type ServeSftp = (ctx: SshChannelContext, sftp: SFTPWrapper) => void;

/**
 * Run one `exec` command (`scp -t …`, `scp -f …`, `md5sum FILE…`) on `channel`; resolve to the
 * exit status the server sends before closing the channel. Failures are reported the way the
 * command's real implementation does (SCP: `\x01message\n`; hashes: stderr), never thrown.
 */
export type ExecCommand = (ctx: SshChannelContext, argv: string[], channel: ServerChannel) => Promise<number>;
