import { z } from 'zod';
import {
  type ApiKeyInput,
  apiKeyInputSchema,
  apiKeyViewSchema,
  nameSchema,
} from '../../../accounts/model.js';
import type { CrudService } from '../../../accounts/types.js';
import { actorOf, type RouteContext, type ZodApp } from './common.js';
import { crudRoutes } from './crud.js';

const createdSchema = z.object({
  key: apiKeyViewSchema,
  /** `ferry_<id>_<secret>`: shown in this answer only, never again. */
  secret: z.string(),
});

/** `/api-keys`: create (the secret is in that answer only), list (by owner), get, delete. */
export function apiKeyRoutes(app: ZodApp, ctx: RouteContext): void {
  const keys = ctx.accounts.apiKeys;
  crudRoutes(app, {
    noun: 'API key',
    path: '/api-keys',
    key: 'id',
    input: apiKeyInputSchema,
    view: apiKeyViewSchema,
    service: keys as unknown as CrudService<unknown, unknown, unknown>,
    created: {
      schema: createdSchema,
      run: (body, request) => keys.create(body as ApiKeyInput, actorOf(request)),
    },
    listFilter: {
      query: { admin: nameSchema.optional(), user: nameSchema.optional() },
      run: (q) => keys.list(q),
    },
  });
}
