import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { adminAccountRoutes } from './admins.js';
import { apiKeyRoutes } from './api-keys.js';
import type { RouteContext } from './common.js';
import { connectionRoutes } from './connections.js';
import { groupRoutes } from './groups.js';
import { jobRoutes } from './jobs.js';
import { mountRoutes } from './mounts.js';
import { ruleRoutes } from './rules.js';
import { securityRoutes } from './security.js';
import { userRoutes } from './users.js';

/**
 * The admin API under `/api/v1`: every route needs an admin (login cookie or admin API key),
 * checked before the body is read; the services check the admin's role for changes.
 */
export const adminRoutes: FastifyPluginAsync<{ ctx: RouteContext }> = async (base, { ctx }) => {
  const app = base.withTypeProvider<ZodTypeProvider>();
  app.addHook('onRequest', async (request) => {
    request.actor = (await ctx.auth.admin(request)).actor;
  });
  userRoutes(app, ctx);
  groupRoutes(app, ctx);
  connectionRoutes(app, ctx);
  mountRoutes(app, ctx);
  adminAccountRoutes(app, ctx);
  apiKeyRoutes(app, ctx);
  securityRoutes(app, ctx);
  if (ctx.events) ruleRoutes(app, ctx.events);
  if (ctx.jobs) jobRoutes(app, ctx.jobs);
};
