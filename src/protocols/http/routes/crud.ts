import { z } from 'zod';
import type { CrudService } from '../../../accounts/types.js';
import { actorOf, errorResponses, pageOf, pageQuery, sentBody, type ZodApp } from './common.js';

export interface CrudSpec {
  /** OpenAPI tag and the noun in summaries (`user`). */
  noun: string;
  /** Collection path (`/users`). */
  path: string;
  /** Name of the key parameter (`username`). */
  key: string;
  input: z.ZodType;
  /** Omitted: no PATCH (API keys cannot be changed). */
  patch?: z.ZodType;
  view: z.ZodType;
  // biome-ignore lint/suspicious/noExplicitAny: one helper for every service's types
  service: CrudService<any, any, any>;
  /** Extra list filters (query fields) and the list call that honours them. */
  listFilter?: {
    query: z.ZodRawShape;
    // biome-ignore lint/suspicious/noExplicitAny: the filter's own shape
    run: (query: any) => Promise<unknown[]>;
  };
  /** Whether `POST` answers more than the view (API keys: the secret, once). */
  created?: {
    schema: z.ZodType;
    run: (body: unknown, request: Parameters<typeof actorOf>[0]) => Promise<unknown>;
  };
}

/**
 * The five routes of a resource of the admin API: list (paged), create (201), get, patch,
 * delete (204). Bodies are validated by the zod schemas of src/accounts/model.ts (a 400 naming
 * the field) and handed to the service as sent (see `sentBody`); the admin's Actor goes with
 * every change and the service checks the role.
 */
export function crudRoutes(app: ZodApp, spec: CrudSpec): void {
  const { noun, path, key, service } = spec;
  const tags = [`${noun}s`];
  const params = z.object({ [key]: z.string().min(1) });
  const one = `${path}/:${key}`;
  const a = /^[aeiou]/i.test(noun) ? 'an' : 'a';

  app.get(
    path,
    {
      schema: {
        tags,
        summary: `List ${noun}s`,
        querystring: spec.listFilter ? pageQuery.extend(spec.listFilter.query) : pageQuery,
        response: { 200: pageOf(spec.view), ...errorResponses },
      },
    },
    async (request) => {
      const { offset, limit } = request.query as { offset: number; limit: number };
      const items = spec.listFilter
        ? await spec.listFilter.run(request.query)
        : await service.list({ offset, limit });
      return { items, offset, limit };
    },
  );
  app.post(
    path,
    {
      schema: {
        tags,
        summary: `Create ${a} ${noun}`,
        body: spec.input,
        response: { 201: spec.created?.schema ?? spec.view, ...errorResponses },
      },
    },
    async (request, reply) => {
      const made = spec.created
        ? await spec.created.run(sentBody(request), request)
        : await service.create(sentBody(request), actorOf(request));
      return reply.status(201).send(made);
    },
  );
  app.get(
    one,
    { schema: { tags, summary: `One ${noun}`, params, response: { 200: spec.view, ...errorResponses } } },
    async (request) => service.get((request.params as Record<string, string>)[key] as string),
  );
  if (spec.patch) {
    app.patch(
      one,
      {
        schema: {
          tags,
          summary: `Change ${a} ${noun} (only the fields sent)`,
          params,
          body: spec.patch,
          response: { 200: spec.view, ...errorResponses },
        },
      },
      async (request) =>
        service.update(
          (request.params as Record<string, string>)[key] as string,
          sentBody(request),
          actorOf(request),
        ),
    );
  }
  app.delete(
    one,
    {
      schema: {
        tags,
        summary: `Remove ${a} ${noun}`,
        params,
        response: { 204: z.null(), ...errorResponses },
      },
    },
    async (request, reply) => {
      await service.remove((request.params as Record<string, string>)[key] as string, actorOf(request));
      return reply.status(204).send(null);
    },
  );
}
