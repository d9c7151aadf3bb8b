import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyBaseLogger, FastifyInstance, FastifyRequest, RawServerDefault } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Accounts, Actor } from '../../../accounts/types.js';
import type { EventRulesApi } from '../../../events/events.js';
import type { Jobs } from '../../../jobs/index.js';
import type { SessionManager } from '../../../session/types.js';
import type { Authenticator } from '../auth.js';

/** A fastify instance whose routes take zod schemas. */
export type ZodApp = FastifyInstance<
  RawServerDefault,
  IncomingMessage,
  ServerResponse,
  FastifyBaseLogger,
  ZodTypeProvider
>;

/** What every route file gets. */
export interface RouteContext {
  accounts: Accounts;
  sessions: SessionManager;
  auth: Authenticator;
  /** Lifetime of a login cookie. */
  loginTtlSeconds: number;
  /** Used bytes and files of a user, when the server has a quota ledger. */
  quotaUsage?: (username: string) => Promise<{ bytes: number; files: number }>;
  /** The environment the connection test resolves credentials in (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Event rules and their deliveries (absent: no `/event-rules` routes). */
  events?: EventRulesApi;
  /** Sync jobs of this node (routes/jobs.ts). */
  jobs?: Jobs;
}

/** Paging of every list endpoint. */
export const pageQuery = z.object({
  offset: z.coerce.number().int().min(0).default(0),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

/** A page of a list: the items and the page asked for. */
export function pageOf<T extends z.ZodType>(item: T) {
  return z.object({ items: z.array(item), offset: z.number().int(), limit: z.number().int() });
}

export const errorBodySchema = z.object({
  error: z.object({ code: z.string(), message: z.string(), field: z.string().optional() }),
});

/** Error answers every authenticated route may give (documented once). */
export const errorResponses = {
  400: errorBodySchema,
  401: errorBodySchema,
  403: errorBodySchema,
  404: errorBodySchema,
  409: errorBodySchema,
};

/** The admin (set by the admin scope's onRequest hook) of a request. */
export function actorOf(request: FastifyRequest): Actor {
  const actor = request.actor;
  if (!actor) throw new Error('admin route without the admin hook');
  return actor;
}

/**
 * The JSON body as the client sent it, before the schema's defaults were applied: services take
 * the input shape and validate it themselves, and a PATCH must not reset every omitted field to
 * its default (`enabled: true`, `groups: []` …).
 */
export function sentBody<T>(request: FastifyRequest): T {
  return request.sentBody as T;
}

declare module 'fastify' {
  interface FastifyRequest {
    actor?: Actor;
    sentBody?: unknown;
  }
}
