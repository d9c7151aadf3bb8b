import { z } from 'zod';
import { nameSchema, userInputSchema, userPatchSchema, userViewSchema } from '../../../accounts/model.js';
import { StorageError } from '../../../storage/errors.js';
import { errorResponses, type RouteContext, type ZodApp } from './common.js';
import { crudRoutes } from './crud.js';

const quotaSchema = z.object({
  username: z.string(),
  limit: z.object({ bytes: z.number().int().optional(), files: z.number().int().optional() }),
  used: z.object({ bytes: z.number().int(), files: z.number().int() }),
});

/** `/users` CRUD and `/users/{username}/quota` (the limits in effect and what is used). */
export function userRoutes(app: ZodApp, ctx: RouteContext): void {
  crudRoutes(app, {
    noun: 'user',
    path: '/users',
    key: 'username',
    input: userInputSchema,
    patch: userPatchSchema,
    view: userViewSchema,
    service: ctx.accounts.users,
  });
  app.get(
    '/users/:username/quota',
    {
      schema: {
        tags: ['users'],
        summary: "A user's quota (their own or their groups') and what they use",
        params: z.object({ username: nameSchema }),
        response: { 200: quotaSchema, ...errorResponses },
      },
    },
    async (request) => {
      const { username } = request.params;
      const user = await ctx.accounts.users.effective(username);
      if (!ctx.quotaUsage) throw new StorageError('NotSupported', 'this server keeps no quota ledger');
      const used = await ctx.quotaUsage(username);
      return { username, limit: user.quota, used };
    },
  );
}
