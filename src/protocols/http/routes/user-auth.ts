import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { StorageError } from '../../../storage/errors.js';
import { clearLoginCookie, setLoginCookie, USER_COOKIE } from '../auth.js';
import { AuthenticationRequired } from '../errors.js';
import { errorResponses, type RouteContext } from './common.js';

const loginBody = z.object({ username: z.string().min(1).max(64), password: z.string().min(1).max(1024) });
const meSchema = z.object({ username: z.string() });

/**
 * A user's own login (→ the `ferry_user` cookie for the file API), logout and `me`. The login is
 * the session layer's password login (defender, allowed/denied addresses, enabled, expiry, one
 * answer for every refusal), closed at once: the cookie stands for the user, each request opens
 * its own session.
 */
export const userAuthRoutes: FastifyPluginAsync<{ ctx: RouteContext }> = async (base, { ctx }) => {
  const app = base.withTypeProvider<ZodTypeProvider>();

  app.post(
    '/login',
    {
      schema: {
        tags: ['auth'],
        summary: "A user's login: sets an HttpOnly SameSite=Strict session cookie for the file API",
        body: loginBody,
        response: { 200: meSchema, ...errorResponses },
      },
    },
    async (request, reply) => {
      const { username, password } = request.body;
      try {
        const session = await ctx.sessions.login({
          username,
          password,
          protocol: 'http',
          remote: request.ip,
        });
        await session.close();
      } catch (err) {
        if (StorageError.is(err, 'PermissionDenied')) throw new AuthenticationRequired(err.message);
        throw err;
      }
      const token = await ctx.accounts.loginSessions.create('user', username, ctx.loginTtlSeconds);
      setLoginCookie(request, reply, USER_COOKIE, token, ctx.loginTtlSeconds);
      return { username };
    },
  );

  app.post(
    '/logout',
    { schema: { tags: ['auth'], summary: "End the user's cookie login", response: { 204: z.null() } } },
    async (request, reply) => {
      const token = request.cookies[USER_COOKIE];
      if (token) await ctx.accounts.loginSessions.remove(token);
      clearLoginCookie(reply, USER_COOKIE);
      return reply.status(204).send(null);
    },
  );

  app.get(
    '/me',
    {
      schema: {
        tags: ['auth'],
        summary: 'The user behind this request (cookie, Basic or API key)',
        response: { 200: meSchema, ...errorResponses },
      },
    },
    async (request, reply) => {
      const session = await ctx.auth.userSession(request, reply);
      return { username: session.user.username };
    },
  );
};
