import { groupInputSchema, groupPatchSchema, groupViewSchema } from '../../../accounts/model.js';
import type { RouteContext, ZodApp } from './common.js';
import { crudRoutes } from './crud.js';

/** `/groups` CRUD. */
export function groupRoutes(app: ZodApp, ctx: RouteContext): void {
  crudRoutes(app, {
    noun: 'group',
    path: '/groups',
    key: 'name',
    input: groupInputSchema,
    patch: groupPatchSchema,
    view: groupViewSchema,
    service: ctx.accounts.groups,
  });
}
