import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { adminRoles } from '../../../accounts/model.js';
import { ADMIN_COOKIE, banned, clearLoginCookie, setLoginCookie } from '../auth.js';
import { AuthenticationRequired } from '../errors.js';
import { errorResponses, type RouteContext } from './common.js';

const loginBody = z.object({ username: z.string().min(1).max(64), password: z.string().min(1).max(1024) });
const meSchema = z.object({
  username: z.string(),
  role: z.enum(adminRoles),
  via: z.enum(['cookie', 'apikey']),
});

/**
 * Admin login (→ the `ferry_admin` cookie), logout and `me`. A login goes through the defender
 * first (a banned address or name is refused before the password is looked at), counts failures
 * and clears them on success, and is written to the audit log either way.
 */
export const adminAuthRoutes: FastifyPluginAsync<{ ctx: RouteContext }> = async (base, { ctx }) => {
  const app = base.withTypeProvider<ZodTypeProvider>();
  const { accounts } = ctx;

  app.post(
    '/login',
    {
      schema: {
        tags: ['auth'],
        summary: 'Admin login: sets an HttpOnly SameSite=Strict session cookie',
        body: loginBody,
        response: { 200: meSchema, ...errorResponses },
      },
    },
    async (request, reply) => {
      const { username, password } = request.body;
      const ip = request.ip;
      const audit = (result: string) =>
        accounts.audit.record({
          kind: 'admin-login',
          actor: `admin:${username}`,
          protocol: 'http',
          remote: ip,
          result,
        });
      if (await accounts.defender.bannedUntil(ip, username)) {
        await audit('banned');
        throw banned();
      }
      const admin = await accounts.admins.verifyPassword(username, password);
      if (!admin) {
        await accounts.defender.failed(ip, username);
        await audit('failed');
        throw new AuthenticationRequired('wrong username or password');
      }
      await accounts.defender.succeeded(ip, username);
      await audit('ok');
      const token = await accounts.loginSessions.create('admin', admin.username, ctx.loginTtlSeconds);
      setLoginCookie(request, reply, ADMIN_COOKIE, token, ctx.loginTtlSeconds);
      return { username: admin.username, role: admin.role, via: 'cookie' as const };
    },
  );

  app.post(
    '/logout',
    {
      schema: {
        tags: ['auth'],
        summary: 'End the admin login of this cookie',
        response: { 204: z.null() },
      },
    },
    async (request, reply) => {
      const token = request.cookies[ADMIN_COOKIE];
      if (token) await accounts.loginSessions.remove(token);
      clearLoginCookie(reply, ADMIN_COOKIE);
      return reply.status(204).send(null);
    },
  );

  app.get(
    '/me',
    {
      schema: {
        tags: ['auth'],
        summary: 'The admin behind this request (cookie or API key)',
        response: { 200: meSchema, ...errorResponses },
      },
    },
    async (request) => {
      const p = await ctx.auth.admin(request);
      return { username: p.admin.username, role: p.admin.role, via: p.via };
    },
  );
};
