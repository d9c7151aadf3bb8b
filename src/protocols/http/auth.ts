import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AdminView } from '../../accounts/model.js';
import type { Accounts, Actor } from '../../accounts/types.js';
import type { Session, SessionManager } from '../../session/types.js';
import { StorageError } from '../../storage/errors.js';
import { AuthenticationRequired } from './errors.js';

/**
 * Who sent a request, from (in this order) the `Authorization` header — `Bearer ferry_…` (an API
 * key of an admin or a user) or `Basic` (a user's name and password, for curl -u) — else a login
 * cookie (`ferry_admin` / `ferry_user`, set by the login routes). Every secret is checked by the
 * account services (constant time, only hashes stored); this module compares none itself.
 */
export type Principal =
  | { kind: 'admin'; admin: AdminView; actor: Actor; via: 'cookie' | 'apikey' }
  | { kind: 'user'; username: string; via: 'cookie' | 'apikey' }
  | { kind: 'basic'; username: string; password: string };

export const ADMIN_COOKIE = 'ferry_admin';
export const USER_COOKIE = 'ferry_user';
export const BASIC_CHALLENGE = 'Basic realm="ferry", charset="UTF-8"';

/** The cookie every login sets: HttpOnly, SameSite=Strict, Secure when the request came over TLS. */
export function setLoginCookie(
  request: FastifyRequest,
  reply: FastifyReply,
  name: string,
  token: string,
  ttlSeconds: number,
): void {
  reply.setCookie(name, token, {
    httpOnly: true,
    sameSite: 'strict',
    secure: request.protocol === 'https',
    path: '/',
    maxAge: ttlSeconds,
  });
}

export function clearLoginCookie(reply: FastifyReply, name: string): void {
  reply.clearCookie(name, { path: '/' });
}

function parseBasic(value: string): { username: string; password: string } | undefined {
  const decoded = Buffer.from(value, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) return undefined;
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

export class Authenticator {
  constructor(
    private readonly accounts: Accounts,
    private readonly sessions: SessionManager,
  ) {}

  /** The request's principal, or undefined when it carries no credentials. Wrong ones: 401. */
  async identify(request: FastifyRequest, want: 'admin' | 'user'): Promise<Principal | undefined> {
    const header = request.headers.authorization;
    if (header) {
      const space = header.indexOf(' ');
      const scheme = header.slice(0, space < 0 ? undefined : space).toLowerCase();
      const value = space < 0 ? '' : header.slice(space + 1).trim();
      if (scheme === 'bearer') return this.apiKey(request, value);
      if (scheme === 'basic') {
        const basic = parseBasic(value);
        if (!basic) throw new AuthenticationRequired('malformed Basic credentials', BASIC_CHALLENGE);
        return { kind: 'basic', ...basic };
      }
      throw new AuthenticationRequired('unsupported Authorization scheme (use Bearer or Basic)');
    }
    const token = request.cookies[want === 'admin' ? ADMIN_COOKIE : USER_COOKIE];
    if (!token) return undefined;
    const found = await this.accounts.loginSessions.verify(token);
    if (!found || found.kind !== want) throw new AuthenticationRequired('the login expired: log in again');
    if (found.kind === 'user') return { kind: 'user', username: found.subject, via: 'cookie' };
    const admin = await this.adminNamed(found.subject);
    return { kind: 'admin', admin, actor: actorOf(admin, request), via: 'cookie' };
  }

  private async apiKey(request: FastifyRequest, secret: string): Promise<Principal> {
    const ip = request.ip;
    // A guessed key counts as a failed login of the address, and a banned address is refused
    // before the key is even looked at.
    if (await this.accounts.defender.bannedUntil(ip)) throw banned();
    const found = secret ? await this.accounts.apiKeys.verify(secret) : undefined;
    if (!found) {
      await this.accounts.defender.failed(ip);
      throw new AuthenticationRequired('unknown or expired API key');
    }
    if (found.admin) {
      const actor = { ...actorOf(found.admin, request), apiKeyId: found.key.id };
      return { kind: 'admin', admin: found.admin, actor, via: 'apikey' };
    }
    if (found.user) return { kind: 'user', username: found.user.username, via: 'apikey' };
    throw new AuthenticationRequired('unknown or expired API key');
  }

  private async adminNamed(username: string): Promise<AdminView> {
    try {
      return await this.accounts.admins.get(username);
    } catch (err) {
      if (StorageError.is(err, 'NotFound'))
        throw new AuthenticationRequired('the login expired: log in again');
      throw err;
    }
  }

  /** The admin behind a request of the admin API; 401 without credentials, 403 for a user's. */
  async admin(request: FastifyRequest): Promise<Extract<Principal, { kind: 'admin' }>> {
    const p = await this.identify(request, 'admin');
    if (!p) throw new AuthenticationRequired('log in as an admin or send an admin API key');
    if (p.kind !== 'admin') throw new StorageError('PermissionDenied', 'the admin API needs an admin');
    return p;
  }

  /**
   * A session of the user behind a file API request: Basic goes through the session layer's
   * password login (defender, IP lists, enabled, expiry); a cookie or API key was authenticated
   * already, the rest of those checks still apply. Closed when the response ends.
   */
  async userSession(request: FastifyRequest, reply: FastifyReply): Promise<Session> {
    const p = await this.identify(request, 'user');
    if (!p)
      throw new AuthenticationRequired('log in, or send Basic credentials or an API key', BASIC_CHALLENGE);
    if (p.kind === 'admin')
      throw new StorageError('PermissionDenied', 'the file API needs a user, not an admin');
    const session = await this.login(request, p);
    reply.raw.once('close', () => void session.close().catch(() => {}));
    return session;
  }

  private async login(request: FastifyRequest, p: Exclude<Principal, { kind: 'admin' }>): Promise<Session> {
    const base = { username: p.username, protocol: 'http', remote: request.ip };
    try {
      return p.kind === 'basic'
        ? await this.sessions.login({ ...base, password: p.password })
        : await this.sessions.login({ ...base, preauthenticated: true });
    } catch (err) {
      // One answer for every refused login: the reason is in the audit log, not for the client.
      if (StorageError.is(err, 'PermissionDenied'))
        throw new AuthenticationRequired(err.message, p.kind === 'basic' ? BASIC_CHALLENGE : undefined);
      throw err;
    }
  }
}

export function actorOf(admin: AdminView, request: FastifyRequest): Actor {
  return { kind: 'admin', name: admin.username, role: admin.role, remote: request.ip };
}

export function banned(): StorageError {
  return new StorageError(
    'PermissionDenied',
    'too many failed logins from this address or for this user: try again later',
  );
}
