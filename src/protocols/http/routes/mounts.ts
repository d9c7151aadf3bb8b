import { mountInputSchema, mountPatchSchema, mountViewSchema, nameSchema } from '../../../accounts/model.js';
import type { RouteContext, ZodApp } from './common.js';
import { crudRoutes } from './crud.js';

/** `/mounts` CRUD; the list takes `user` or `group` to show one owner's mounts. */
export function mountRoutes(app: ZodApp, ctx: RouteContext): void {
  const mounts = ctx.accounts.mounts;
  crudRoutes(app, {
    noun: 'mount',
    path: '/mounts',
    key: 'id',
    input: mountInputSchema,
    patch: mountPatchSchema,
    view: mountViewSchema,
    service: mounts,
    listFilter: {
      query: { user: nameSchema.optional(), group: nameSchema.optional() },
      run: async (q: { offset: number; limit: number; user?: string; group?: string }) => {
        if (!q.user && !q.group) return mounts.list({ offset: q.offset, limit: q.limit });
        const all = await mounts.listFor(q.user ? { user: q.user } : { group: q.group as string });
        return all.slice(q.offset, q.offset + q.limit);
      },
    },
  });
}
