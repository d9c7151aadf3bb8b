import { createHash, randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import { nowIso } from '../db/database.js';
import type { Database } from '../db/schema.js';
import { StorageError } from '../storage/errors.js';
import type { LoginSessionService } from './types.js';

/**
 * Cookie sessions in the store (every node knows them). The token is 256 random bits; only its
 * SHA-256 is stored, so a copy of the database logs no one in.
 */
export class StoreLoginSessions implements LoginSessionService {
  constructor(private readonly db: Kysely<Database>) {}

  async create(kind: 'admin' | 'user', subject: string, ttlSeconds: number): Promise<string> {
    if (!(ttlSeconds > 0)) throw new StorageError('InvalidArgument', 'ttlSeconds: must be positive');
    const token = randomBytes(32).toString('base64url');
    const now = Date.now();
    await this.db
      .insertInto('login_sessions')
      .values({
        id: hash(token),
        kind,
        subject,
        expires_at: new Date(now + ttlSeconds * 1000).toISOString(),
        created_at: new Date(now).toISOString(),
      })
      .execute();
    // Expired sessions are dropped here, now and then, rather than by a timer on every node.
    if (Math.random() < 0.05)
      await this.db.deleteFrom('login_sessions').where('expires_at', '<=', nowIso()).execute();
    return token;
  }

  async verify(token: string): Promise<{ kind: 'admin' | 'user'; subject: string } | undefined> {
    const row = await this.db
      .selectFrom('login_sessions')
      .selectAll()
      .where('id', '=', hash(token))
      .executeTakeFirst();
    if (!row || row.expires_at <= nowIso()) return undefined;
    return { kind: row.kind, subject: row.subject };
  }

  async remove(token: string): Promise<void> {
    await this.db.deleteFrom('login_sessions').where('id', '=', hash(token)).execute();
  }
}

function hash(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}
