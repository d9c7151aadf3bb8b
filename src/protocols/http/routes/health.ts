import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { FerryMetrics } from '../../../server/metrics.js';

const status = z.object({ status: z.enum(['ok', 'unavailable']) });

/**
 * Probes and metrics, without authentication (they say nothing about users or files):
 * `/healthz` answers while the process runs; `/readyz` 200 only while `ready()` says the store
 * answers and the server is not shutting down (a load balancer stops sending then), else 503;
 * `/metrics` the Prometheus text format.
 */
export const healthRoutes: FastifyPluginAsync<{
  ready?: () => boolean | Promise<boolean>;
  metrics?: FerryMetrics;
}> = async (base, { ready, metrics }) => {
  const app = base.withTypeProvider<ZodTypeProvider>();
  app.get(
    '/healthz',
    { schema: { tags: ['health'], summary: 'The process is up', response: { 200: status } } },
    async () => ({ status: 'ok' as const }),
  );
  app.get(
    '/readyz',
    {
      schema: {
        tags: ['health'],
        summary: 'Ready for traffic: the store answers and no shutdown began',
        response: { 200: status, 503: status },
      },
    },
    async (request, reply) => {
      let ok = true;
      try {
        ok = ready ? await ready() : true;
      } catch (err) {
        request.log.warn({ err }, 'readiness check failed');
        ok = false;
      }
      return reply.status(ok ? 200 : 503).send({ status: ok ? 'ok' : 'unavailable' });
    },
  );
  app.get(
    '/metrics',
    { schema: { tags: ['health'], summary: 'Prometheus metrics (text format)' } },
    async (_request, reply) => {
      if (!metrics)
        return reply.status(404).send({ error: { code: 'NotFound', message: 'metrics are off' } });
      return reply.type(metrics.registry.contentType).send(await metrics.registry.metrics());
    },
  );
};
