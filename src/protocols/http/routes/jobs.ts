import { z } from 'zod';
import { nameSchema } from '../../../accounts/model.js';
import type { Jobs } from '../../../jobs/index.js';
import { jobInputSchema, jobPatchSchema, jobViewSchema, runViewSchema } from '../../../jobs/model.js';
import { StorageError } from '../../../storage/errors.js';
import { actorOf, errorResponses, pageOf, pageQuery, type ZodApp } from './common.js';
import { crudRoutes } from './crud.js';

/**
 * `/jobs` CRUD (sync jobs, docs/jobs.md), `POST /jobs/{name}/run` (start a run on this node now:
 * 202 with the run's record, or 200 with its final record when `?wait=true`), and the run history
 * `GET /jobs/{name}/runs` (newest first) and `GET /jobs/{name}/runs/{id}`.
 */
export function jobRoutes(app: ZodApp, jobs: Jobs): void {
  crudRoutes(app, {
    noun: 'job',
    path: '/jobs',
    key: 'name',
    input: jobInputSchema,
    patch: jobPatchSchema,
    view: jobViewSchema,
    service: jobs.store,
  });
  const tags = ['jobs'];
  app.post(
    '/jobs/:name/run',
    {
      schema: {
        tags,
        summary: 'Run a job now, on this node (409 while it runs)',
        params: z.object({ name: nameSchema }),
        querystring: z.object({
          wait: z
            .enum(['true', 'false'])
            .default('false')
            .transform((v) => v === 'true'),
        }),
        response: { 200: runViewSchema, 202: runViewSchema, ...errorResponses },
      },
    },
    async (request, reply) => {
      const { run, done } = await jobs.trigger(request.params.name, actorOf(request));
      if (request.query.wait) return reply.status(200).send(await done);
      return reply.status(202).send(run);
    },
  );
  app.get(
    '/jobs/:name/runs',
    {
      schema: {
        tags,
        summary: "A job's runs, newest first",
        params: z.object({ name: nameSchema }),
        querystring: pageQuery,
        response: { 200: pageOf(runViewSchema), ...errorResponses },
      },
    },
    async (request) => {
      const { offset, limit } = request.query;
      return { items: await jobs.store.runs(request.params.name, { offset, limit }), offset, limit };
    },
  );
  app.get(
    '/jobs/:name/runs/:id',
    {
      schema: {
        tags,
        summary: 'One run of a job',
        params: z.object({ name: nameSchema, id: z.string().min(1) }),
        response: { 200: runViewSchema, ...errorResponses },
      },
    },
    async (request) => {
      const run = await jobs.store.getRun(request.params.id);
      if (run.job !== request.params.name)
        throw new StorageError('NotFound', `job ${request.params.name} has no run ${request.params.id}`);
      return run;
    },
  );
}
