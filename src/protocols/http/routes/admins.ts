import { adminInputSchema, adminPatchSchema, adminViewSchema } from '../../../accounts/model.js';
import type { RouteContext, ZodApp } from './common.js';
import { crudRoutes } from './crud.js';

/** `/admins` CRUD (the service lets only the `admin` role change admins). */
export function adminAccountRoutes(app: ZodApp, ctx: RouteContext): void {
  crudRoutes(app, {
    noun: 'admin',
    path: '/admins',
    key: 'username',
    input: adminInputSchema,
    patch: adminPatchSchema,
    view: adminViewSchema,
    service: ctx.accounts.admins,
  });
}
