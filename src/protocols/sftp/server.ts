import { randomUUID } from 'node:crypto';
import { type AddressInfo, createServer, type Socket } from 'node:net';
import type { Logger } from 'pino';
import ssh2, { type Algorithms, type AuthContext, type AuthenticationType, type Connection } from 'ssh2';
import type { Session, SessionManager } from '../../session/types.js';
import { StorageError } from '../../storage/errors.js';
import { routeSession } from './channels.js';
import { type ProxyProtocolMode, readProxyHeader } from './proxy-protocol.js';
import { coalesceWrites } from './socket-writes.js';
import {
  type InboundMemory,
  type SftpOptions,
  SSH_CIPHERS,
  type SshChannelContext,
  type SshCipher,
} from './types.js';
import { acceptWithWindow } from './window.js';

const { Server: Ssh2Server, utils } = ssh2;

/**
 * Modern algorithms only: no SHA-1, no CBC, no arcfour, no DSA. Ciphers in speed order (AES-GCM
 * uses AES-NI and needs no separate MAC); the client's first choice that we support wins, so the
 * order matters only to clients that leave it to us.
 */
export const sshAlgorithms = {
  kex: [
    'curve25519-sha256',
    'curve25519-sha256@libssh.org',
    'ecdh-sha2-nistp256',
    'ecdh-sha2-nistp384',
    'ecdh-sha2-nistp521',
    'diffie-hellman-group16-sha512',
    'diffie-hellman-group14-sha256',
  ],
  cipher: [...SSH_CIPHERS],
  hmac: ['hmac-sha2-256-etm@openssh.com', 'hmac-sha2-512-etm@openssh.com', 'hmac-sha2-256', 'hmac-sha2-512'],
  serverHostKey: ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'rsa-sha2-512', 'rsa-sha2-256'],
  compress: ['none'],
} satisfies Algorithms;

/** What a client is told it may try after a failed attempt. */
const METHODS: AuthenticationType[] = ['publickey', 'password', 'keyboard-interactive'];
/** Failed authentication attempts one connection may make before it is closed (OpenSSH: 6). */
const MAX_AUTH_TRIES = 6;
/**
 * Session channels one connection may hold open at once (OpenSSH's MaxSessions default). Each
 * SFTP channel holds up to 256 handles and one login counts once against max sessions, so
 * without this bound one login could open channels, handles and uploads without end.
 */
export const MAX_CHANNELS = 10;

export interface SshServerOptions {
  sessions: Pick<SessionManager, 'login'>;
  /** Private host keys (OpenSSH or PEM text), one per type: host-keys.ts. */
  hostKeys: string[];
  logger: Logger;
  listen: { host: string; port: number };
  options: SftpOptions;
  /** Transfer memory shared by every channel (types.ts `InboundMemory`). */
  memory?: InboundMemory;
  /** Shown to the client before authentication (SSH banner). */
  banner?: string;
  /** The ciphers offered, in order (`sftp.ciphers`; each one of SSH_CIPHERS). Default: all of them. */
  ciphers?: SshCipher[];
  /** A connection not logged in within this time is closed. Default 2 minutes. */
  loginGraceMs?: number;
  /** A logged-in connection with no channel data either way this long is closed. 0: never. */
  idleTimeoutMs?: number;
  /** PROXY protocol v1/v2 from a load balancer (proxy-protocol.ts). Default off. */
  proxyProtocol?: { mode: ProxyProtocolMode; trusted: string[] };
  /** An address banned by the defender is cut off before any SSH or authentication work. */
  isBanned?: (remote: string) => Promise<boolean>;
  /**
   * Answers a client's "would this key do?" query (publickey without signature) truthfully, as
   * OpenSSH does: unknown keys are declined without a failed login being counted, so an agent
   * offering several keys does not get its address banned. Without it every key is accepted
   * and the signature decides.
   */
  keyAccepted?: (username: string, key: { algorithm: string; data: Buffer }) => Promise<boolean>;
}

export interface SshServer {
  /** The address bound (the real port when 0 was asked). */
  address: AddressInfo;
  /** Stop accepting connections; open ones go on. */
  stopAccepting(): void;
  /** Stop accepting and end every connection (their sessions close: open uploads are aborted). */
  close(): Promise<void>;
}

/**
 * The SSH transport of `ferry serve` (see types.ts for the parts): ssh2's Server fed with sockets
 * from our own listener, so every socket gets `setNoDelay(true)`, the PROXY header is read and a
 * banned address is dropped before ssh2 sees a byte.
 */
export async function startSshServer(opts: SshServerOptions): Promise<SshServer> {
  const { logger } = opts;
  const loginGraceMs = opts.loginGraceMs ?? 120_000;
  const idleTimeoutMs = opts.idleTimeoutMs ?? 0;
  const proxy = opts.proxyProtocol ?? { mode: 'off', trusted: [] };
  /** The client's address per socket (the PROXY header's source when one was read). */
  const remotes = new WeakMap<Socket, string>();
  const clients = new Set<Connection>();
  const sockets = new Set<Socket>();
  const graceTimers = new WeakMap<Socket, NodeJS.Timeout>();

  const ssh = new Ssh2Server({
    hostKeys: opts.hostKeys,
    algorithms: opts.ciphers ? { ...sshAlgorithms, cipher: opts.ciphers } : sshAlgorithms,
    banner: opts.banner || undefined,
    ident: 'Ferry',
  });
  ssh.on('connection', (client, info) => {
    // ssh2 hands the socket it was given to its Client as `_sock`; the 'connection' event gives
    // only socket.remoteAddress, which is the balancer's when a PROXY header was read.
    const sock = (client as unknown as { _sock?: Socket })._sock;
    const remote = (sock && remotes.get(sock)) ?? plainAddress(info.ip);
    clients.add(client);
    client.once('close', () => clients.delete(client));
    handleClient(client, remote, opts, idleTimeoutMs, () => {
      if (sock) clearTimeout(graceTimers.get(sock));
    });
  });
  ssh.on('error', (err: Error) => logger.error({ err }, 'ssh server'));

  const listener = createServer({ noDelay: true }, (socket) => {
    socket.setNoDelay(true);
    socket.on('error', () => {}); // a reset before ssh2 took the socket; ssh2 logs its own
    sockets.add(socket);
    // Login grace, from the TCP connection on (a client that never even says hello is cut off);
    // handleClient stops it once the client is logged in.
    const grace = setTimeout(() => {
      logger.info({ remote: plainAddress(socket.remoteAddress) }, 'login grace time over: connection closed');
      socket.destroy();
    }, loginGraceMs);
    grace.unref();
    graceTimers.set(socket, grace);
    socket.once('close', () => {
      clearTimeout(grace);
      sockets.delete(socket);
    });
    accept(socket).catch((err: unknown) => {
      logger.info(
        { remote: plainAddress(socket.remoteAddress), reason: (err as Error).message },
        'ssh connection refused',
      );
      socket.destroy();
    });
  });

  async function accept(socket: Socket): Promise<void> {
    let remote = plainAddress(socket.remoteAddress);
    if (proxy.mode !== 'off') {
      const header = await readProxyHeader(socket, proxy.mode, proxy.trusted, loginGraceMs);
      if (header?.source) remote = plainAddress(header.source);
    }
    if (opts.isBanned && (await opts.isBanned(remote))) throw new Error('address banned');
    if (socket.destroyed) return;
    remotes.set(socket, remote);
    coalesceWrites(socket);
    ssh.injectSocket(socket);
  }

  await new Promise<void>((resolve, reject) => {
    listener.once('error', reject);
    listener.listen(opts.listen.port, opts.listen.host, () => {
      listener.off('error', reject);
      resolve();
    });
  });
  listener.on('error', (err) => logger.error({ err }, 'ssh listener'));
  const closed = new Promise<void>((resolve) => listener.once('close', () => resolve()));
  return {
    address: listener.address() as AddressInfo,
    stopAccepting: () => {
      if (listener.listening) listener.close();
    },
    async close() {
      if (listener.listening) listener.close();
      for (const c of clients) c.end();
      // A client that does not answer the disconnect (or a socket still in its PROXY or ban
      // check) is cut off.
      const forced = setTimeout(() => {
        for (const socket of sockets) socket.destroy();
      }, 2000);
      await closed;
      clearTimeout(forced);
    },
  };
}

/** `::ffff:10.0.0.1` → `10.0.0.1` (IP lists and bans are written with plain IPv4). */
function plainAddress(ip: string | undefined): string {
  if (!ip) return 'unknown';
  return ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
}

/**
 * One SSH connection: authentication through the session layer (one Session for the connection,
 * closed when it ends), then its session channels go to `routeSession` (channels.ts); port and
 * agent forwarding and global requests are refused.
 */
function handleClient(
  client: Connection,
  remote: string,
  opts: SshServerOptions,
  idleTimeoutMs: number,
  loggedIn: () => void,
): void {
  const log = opts.logger.child({ protocol: 'sftp', remote, connection: randomUUID().slice(0, 8) });
  let session: Session | undefined;
  let ended = false;

  client.on('error', (err) => log.debug({ reason: err.message }, 'ssh connection error'));
  client.on('close', () => {
    ended = true;
    const s = session;
    session = undefined;
    s?.close().catch((err: unknown) => log.error({ err }, 'closing the session'));
  });

  /** Log in through the session layer; any refusal is the same failed attempt for the client. */
  const login = async (
    username: string,
    credential: { password?: string; publicKey?: { algorithm: string; data: Buffer } },
  ): Promise<boolean> => {
    if (session || ended) return false;
    try {
      const s = await opts.sessions.login({ username, protocol: 'sftp', remote, ...credential });
      if (ended) {
        await s.close();
        return false;
      }
      session = s;
      return true;
    } catch (err) {
      // PermissionDenied (the reason is in the audit log), Transient (max sessions, shutting down,
      // home unreachable): all a failed authentication to the client.
      if (err instanceof StorageError) log.info({ username, reason: err.message }, 'login refused');
      else log.error({ err, username }, 'login failed');
      return false;
    }
  };
  let failures = 0;
  const settle = (ctx: AuthContext, ok: boolean) => {
    if (ended) return;
    if (ok) return ctx.accept();
    ctx.reject(METHODS);
    if (++failures >= MAX_AUTH_TRIES) {
      log.info({ username: ctx.username }, 'too many authentication failures: connection closed');
      client.end();
    }
  };

  client.on('authentication', (ctx) => {
    switch (ctx.method) {
      case 'password':
        void login(ctx.username, { password: ctx.password }).then((ok) => settle(ctx, ok));
        return;
      case 'keyboard-interactive':
        ctx.prompt([{ prompt: 'Password: ', echo: false }], (answers) => {
          if (answers.length !== 1 || typeof answers[0] !== 'string') return settle(ctx, false);
          void login(ctx.username, { password: answers[0] }).then((ok) => settle(ctx, ok));
        });
        return;
      case 'publickey': {
        const publicKey = { algorithm: ctx.key.algo, data: ctx.key.data };
        if (!ctx.signature || !ctx.blob) {
          // The query "would this key do?": answered without a login (and without a failure).
          const check = opts.keyAccepted?.(ctx.username, publicKey) ?? Promise.resolve(true);
          void check.catch(() => false).then((ok) => settle(ctx, ok));
          return;
        }
        const key = utils.parseKey(ctx.key.data);
        if (key instanceof Error || !key.verify(ctx.blob, ctx.signature, ctx.hashAlgo)) {
          settle(ctx, false);
          return;
        }
        void login(ctx.username, { publicKey }).then((ok) => settle(ctx, ok));
        return;
      }
      default:
        // `none` (a client asking which methods there are) is not counted as a failure.
        if (ctx.method === 'none') ctx.reject(METHODS);
        else settle(ctx, false);
    }
  });

  client.on('ready', () => {
    loggedIn();
    const active = session;
    if (!active) {
      client.end();
      return;
    }
    // Idle: no channel data either way for idleTimeoutMs. SSH keepalives (ours every 15 s, a
    // client's ServerAliveInterval, WinSCP's) are not channel data, so they don't keep it open.
    let touch: (() => void) | undefined;
    if (idleTimeoutMs > 0) {
      const idle = setTimeout(() => {
        log.info({ username: active.user.username }, 'idle timeout: connection closed');
        client.end();
      }, idleTimeoutMs);
      idle.unref();
      touch = () => idle.refresh();
      client.once('close', () => clearTimeout(idle));
    }
    const ctx: SshChannelContext = {
      session: active,
      logger: log.child({ username: active.user.username }),
      options: opts.options,
      memory: opts.memory,
    };
    let channels = 0;
    client.on('session', (acceptSession, rejectSession) => {
      if (channels >= MAX_CHANNELS) {
        log.info({ username: active.user.username }, `more than ${MAX_CHANNELS} channels: refused`);
        rejectSession();
        return;
      }
      channels++;
      // 256 KiB of window at open, not ssh2's 2 MiB: it grows as the client sends (window.ts).
      const channel = acceptWithWindow(client, acceptSession);
      channel.once('close', () => channels--);
      routeSession(channel, ctx, touch);
    });
    // Port forwarding, agent forwarding, streamlocal, global requests: refused.
    client.on('tcpip', (_accept, reject) => reject());
    client.on('openssh.streamlocal', (_accept, reject) => reject());
    client.on('request', (_accept, reject) => reject?.());
  });
}
