import fastifyCookie from '@fastify/cookie';
import fastifySwagger from '@fastify/swagger';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { jsonSchemaTransform, serializerCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Logger } from 'pino';
import type { Accounts } from '../../accounts/types.js';
import type { Jobs } from '../../jobs/index.js';
import type { FerryMetrics } from '../../server/metrics.js';
import type { SessionManager } from '../../session/types.js';
import { Authenticator } from './auth.js';
import { handleError } from './errors.js';
import { adminRoutes } from './routes/admin.js';
import { adminAuthRoutes } from './routes/admin-auth.js';
import type { RouteContext } from './routes/common.js';
import { fileRoutes } from './routes/files.js';
import { healthRoutes } from './routes/health.js';
import { userAuthRoutes } from './routes/user-auth.js';
import { validatorCompiler } from './validation.js';

export interface HttpAppOptions {
  accounts: Accounts;
  sessions: SessionManager;
  metrics?: FerryMetrics;
  logger?: Logger;
  /** `/readyz`: true while the store answers and the server is not shutting down. */
  ready?: () => boolean | Promise<boolean>;
  /** Lifetime of login cookies (default 12 h). */
  loginTtlSeconds?: number;
  /** Used bytes/files per user (the quota ledger), for `GET /users/{username}/quota`. */
  quotaUsage?: RouteContext['quotaUsage'];
  /** Environment for connection tests' credential chain (default process.env). */
  env?: NodeJS.ProcessEnv;
  /**
   * A connection on which nothing moved for this long is closed (default 120 s): a client that
   * stalls mid-upload is cut off, its upload aborted and nothing is left behind. Not a limit on
   * how long a transfer may take.
   */
  idleTimeoutMs?: number;
  /** Behind a load balancer: trust its X-Forwarded-For for the client address (default false). */
  trustProxy?: boolean | string;
  /** Event rules (`/event-rules`, `/event-deliveries`). */
  events?: RouteContext['events'];
  /** Sync jobs (`/api/v1/jobs`); absent: no job routes. */
  jobs?: Jobs;
}

/**
 * The HTTP server of `ferry serve`, built but not listening (the caller listens and closes).
 * Requests are validated and answers serialized by the zod schemas of src/accounts/model.ts and
 * the route files, and `/api/openapi.json` is generated from those same schemas. Routes:
 * `/healthz`, `/readyz`, `/metrics`, `/api/openapi.json`, the admin API `/api/v1/…`, and the
 * user's login and file API `/api/v1/user/…` (docs/http-api.md).
 */
export function buildHttpApp(options: HttpAppOptions): FastifyInstance {
  const app = Fastify({
    ...(options.logger ? { loggerInstance: options.logger as FastifyBaseLogger } : { logger: false }),
    trustProxy: options.trustProxy ?? false,
    exposeHeadRoutes: false,
    connectionTimeout: options.idleTimeoutMs ?? 120_000,
    // No limit on how long a whole request may take (Node's own default cuts uploads at 5 min).
    requestTimeout: 0,
    // Request bodies other than uploads are small JSON documents.
    bodyLimit: 1024 * 1024,
  }).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.setErrorHandler(handleError);
  app.setNotFoundHandler((request, reply) => {
    void reply.status(404).send({
      error: { code: 'NotFound', message: `no route ${request.method} ${request.url.split('?')[0]}` },
    });
  });
  app.decorateRequest('actor', undefined);
  app.decorateRequest('sentBody', undefined);
  app.addHook('preValidation', async (request) => {
    request.sentBody = request.body;
  });
  const { metrics } = options;
  if (metrics) {
    app.addHook('onResponse', async (request, reply) => {
      const route = request.routeOptions.url ?? 'unmatched';
      metrics.httpRequest(request.method, route, reply.statusCode, reply.elapsedTime / 1000);
    });
  }

  void app.register(fastifyCookie);
  void app.register(fastifySwagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Ferry',
        description: 'Ferry server: admin API and the user file API (docs/http-api.md)',
        version: '1',
      },
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', description: 'API key `ferry_<id>_<secret>`' },
          basic: { type: 'http', scheme: 'basic', description: 'a user name and password (file API)' },
          adminCookie: { type: 'apiKey', in: 'cookie', name: 'ferry_admin' },
          userCookie: { type: 'apiKey', in: 'cookie', name: 'ferry_user' },
        },
      },
    },
    transform: jsonSchemaTransform,
  });

  const ctx: RouteContext = {
    accounts: options.accounts,
    sessions: options.sessions,
    auth: new Authenticator(options.accounts, options.sessions),
    loginTtlSeconds: options.loginTtlSeconds ?? 12 * 3600,
    quotaUsage: options.quotaUsage,
    env: options.env,
    events: options.events,
    jobs: options.jobs,
  };
  void app.register(healthRoutes, { ready: options.ready, metrics });
  void app.register(adminAuthRoutes, { prefix: '/api/v1/admin', ctx });
  void app.register(adminRoutes, { prefix: '/api/v1', ctx });
  void app.register(userAuthRoutes, { prefix: '/api/v1/user', ctx });
  void app.register(fileRoutes, { prefix: '/api/v1/user', ctx });
  app.get('/api/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  return app;
}
