import { z } from 'zod';
import { actorOf, errorResponses, pageOf, pageQuery, type RouteContext, type ZodApp } from './common.js';

const banSchema = z.object({
  key: z.string(),
  failures: z.number().int(),
  bannedUntil: z.string().optional(),
});
const auditSchema = z.object({
  at: z.string(),
  kind: z.string(),
  actor: z.string(),
  protocol: z.string().optional(),
  remote: z.string().optional(),
  path: z.string().optional(),
  targetPath: z.string().optional(),
  bytes: z.number().optional(),
  durationMs: z.number().optional(),
  result: z.string(),
  detail: z.record(z.string(), z.unknown()).optional(),
});

/** The defender (failed logins and bans: list, unban) and the audit log (filtered, paged). */
export function securityRoutes(app: ZodApp, ctx: RouteContext): void {
  const { defender, audit } = ctx.accounts;
  app.get(
    '/defender',
    {
      schema: {
        tags: ['defender'],
        summary: 'Addresses and users with failed logins, and their bans',
        querystring: pageQuery,
        response: { 200: pageOf(banSchema), ...errorResponses },
      },
    },
    async (request) => {
      const { offset, limit } = request.query;
      const all = await defender.list();
      return { items: all.slice(offset, offset + limit), offset, limit };
    },
  );
  app.post(
    '/defender/unban',
    {
      schema: {
        tags: ['defender'],
        summary: 'Lift a ban (key as listed)',
        body: z.object({ key: z.string().min(1).max(300) }),
        response: { 204: z.null(), ...errorResponses },
      },
    },
    async (request, reply) => {
      await defender.unban(request.body.key, actorOf(request));
      return reply.status(204).send(null);
    },
  );
  app.get(
    '/audit',
    {
      schema: {
        tags: ['audit'],
        summary: 'The audit log, newest first, filtered by kind, actor and time',
        querystring: pageQuery.extend({
          kind: z.string().min(1).optional(),
          actor: z.string().min(1).optional(),
          since: z.iso.datetime().optional(),
        }),
        response: { 200: pageOf(auditSchema), ...errorResponses },
      },
    },
    async (request) => {
      const { offset, limit } = request.query;
      return { items: await audit.list(request.query), offset, limit };
    },
  );
}
