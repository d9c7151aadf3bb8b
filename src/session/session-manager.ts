import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Accounts, EffectiveUser } from '../accounts/types.js';
import type { Store } from '../db/database.js';
import { StoreMtimeIndex } from '../db/mtime-index.js';
import type { S3ClientOptions } from '../s3/client.js';
import { StorageError } from '../storage/errors.js';
import { addressAllowed } from './address-rules.js';
import { sessionError } from './errors.js';
import { auditSubscriber, EventBus } from './events.js';
import { QuotaLedger, type Usage } from './quota-ledger.js';
import { Tree } from './resolve.js';
import { UserSession } from './session.js';
import { defaultSessionLimits, type SessionLimits } from './session-transfers.js';
import { StoragePool } from './storage-pool.js';
import { Throttles } from './throttle.js';
import type { LoginRequest, Session, SessionEvent, SessionManager } from './types.js';

/** What the session layer needs of the account services. */
export type SessionAccounts = Pick<Accounts, 'users' | 'connections' | 'defender' | 'audit' | 'changes'>;

export interface SessionManagerOptions {
  accounts: SessionAccounts;
  store: Store;
  /** Shared storages; default: a pool on `accounts.connections` dropped on `connections` changes. */
  pool?: StoragePool;
  /** For the default pool: passed to createS3Client (metrics hooks). */
  s3ClientOptions?: S3ClientOptions;
  limits?: Partial<SessionLimits>;
  /** For the default pool: the server's own files no local home or mount may hold (storage-pool.ts). */
  protectedPaths?: string[];
  /** Failures of event subscribers (the audit log) and of the defender's bookkeeping. */
  onError?: (err: unknown) => void;
}

/** The one answer to every login a client must not tell apart from another. */
export const AUTH_FAILED = 'authentication failed';

/** The session manager of this node (see types.ts for the contract). */
/** The SessionManager contract plus what this node's server and admin API use besides. */
export interface NodeSessionManager extends SessionManager {
  readonly pool: StoragePool;
  readonly ledger: QuotaLedger;
  /** Set a user's quota ledger from what their home really holds (admin action; user idle). */
  recomputeQuota(username: string): Promise<Usage>;
}

export function createSessionManager(options: SessionManagerOptions): NodeSessionManager {
  const { accounts } = options;
  const onError = options.onError ?? (() => {});
  const pool =
    options.pool ??
    new StoragePool({
      resolveConnection: (name) => accounts.connections.resolve(name),
      changes: accounts.changes,
      s3ClientOptions: options.s3ClientOptions,
      protectedPaths: options.protectedPaths,
      mtimeIndex: new StoreMtimeIndex(options.store),
      onMtimeIndexError: (err) => onError(err),
    });
  const ledger = new QuotaLedger(options.store);
  const bus = new EventBus(onError);
  bus.subscribe(auditSubscriber(accounts.audit));
  const limits: SessionLimits = { ...defaultSessionLimits, ...options.limits };
  const throttles = new Throttles();
  const sessions = new Set<UserSession>();
  /** Sessions per user on this node, counting logins under way (so racing logins can't exceed). */
  const perUser = new Map<string, number>();
  let shuttingDown = false;

  const release = (username: string) => {
    const n = (perUser.get(username) ?? 1) - 1;
    if (n <= 0) perUser.delete(username);
    else perUser.set(username, n);
  };

  const emitLogin = (
    req: LoginRequest,
    started: number,
    result: string,
    reason?: string,
    sessionId?: string,
  ) =>
    bus.emit({
      kind: result === 'ok' ? 'login' : 'login-failed',
      username: req.username,
      protocol: req.protocol,
      remote: req.remote,
      sessionId,
      durationMs: Math.round(performance.now() - started),
      result,
      reason,
      at: new Date(),
    });

  async function login(req: LoginRequest): Promise<Session> {
    const started = performance.now();
    /** Refuse with the one message; the reason goes to the event (audit log) only. */
    const refuse = async (reason: string, countsAsFailure = true) => {
      if (countsAsFailure) await accounts.defender.failed(req.remote, req.username).catch(onError);
      emitLogin(req, started, 'PermissionDenied', reason);
      return sessionError('PermissionDenied', AUTH_FAILED);
    };
    if (shuttingDown) {
      emitLogin(req, started, 'Transient', 'server shutting down');
      throw sessionError('Transient', 'the server is shutting down');
    }
    if (await accounts.defender.bannedUntil(req.remote, req.username)) throw await refuse('banned', false);
    let verified = req.preauthenticated === true;
    if (!verified && req.password !== undefined)
      verified = (await accounts.users.verifyPassword(req.username, req.password)) !== undefined;
    else if (!verified && req.publicKey)
      verified =
        (await accounts.users.verifyPublicKey(req.username, req.publicKey.algorithm, req.publicKey.data)) !==
        undefined;
    if (!verified) throw await refuse('bad credentials or unknown user');
    let user: EffectiveUser;
    try {
      user = await accounts.users.effective(req.username);
    } catch (err) {
      if (StorageError.is(err, 'NotFound')) throw await refuse('unknown user');
      throw err;
    }
    if (!user.enabled) throw await refuse('disabled');
    if (user.expiresAt && user.expiresAt.getTime() <= Date.now()) throw await refuse('expired');
    if (!addressAllowed(req.remote, user.allowedIps, user.deniedIps))
      throw await refuse('address not allowed');
    return open(user, req, started);
  }

  /** Open a session for a user already authenticated and admitted (max sessions, home check). */
  async function open(user: EffectiveUser, req: LoginRequest, started: number): Promise<UserSession> {
    const count = perUser.get(user.username) ?? 0;
    if (user.maxSessions !== undefined && count >= user.maxSessions) {
      // Not an authentication failure (the client must not drop its credentials): busy, retry later.
      emitLogin(req, started, 'Transient', 'too many sessions');
      throw sessionError(
        'Transient',
        `too many sessions for this user (at most ${user.maxSessions}): try again when one has ended`,
      );
    }
    perUser.set(user.username, count + 1);
    const tree = new Tree(user);
    try {
      await pool.checkAtLogin(tree.home.target);
    } catch (err) {
      release(user.username);
      // The reason (bucket, store's answer) is for the audit log; the client learns only this.
      const why = err instanceof Error ? err.message : String(err);
      emitLogin(req, started, err instanceof StorageError ? err.code : 'Error', `home unavailable: ${why}`);
      throw sessionError(
        'Transient',
        'your home folder is not reachable now: try again later or ask the administrator',
      );
    }
    await accounts.defender.succeeded(req.remote, user.username).catch(onError);
    const session = new UserSession({
      id: randomUUID(),
      user,
      protocol: req.protocol,
      remote: req.remote,
      tree,
      pool,
      ledger,
      buckets: throttles.acquire(user.username, user.bandwidth),
      bus,
      limits,
      accepting: () => !shuttingDown,
      onClose: (s) => {
        if (!sessions.delete(s)) return;
        release(s.user.username);
        throttles.release(s.user.username);
      },
    });
    sessions.add(session);
    emitLogin(req, started, 'ok', undefined, session.id);
    return session;
  }

  return {
    pool,
    ledger,
    login,
    active: () => [...sessions],
    async shutdown(graceMs: number) {
      shuttingDown = true;
      const deadline = performance.now() + graceMs;
      while (performance.now() < deadline && [...sessions].some((s) => s.openWrites > 0)) await sleep(25);
      await Promise.all([...sessions].map((s) => s.close()));
      pool.close();
    },
    onEvent: (listener: (event: SessionEvent) => void) => bus.subscribe(listener),
    async recomputeQuota(username: string) {
      const user = await accounts.users.effective(username);
      return ledger.recompute(username, await pool.get(new Tree(user).home.target));
    },
  };
}
