import { z } from 'zod';
import type { EventRulesApi } from '../../../events/events.js';
import {
  deliveryStatuses,
  deliveryViewSchema,
  ruleInputSchema,
  rulePatchSchema,
  ruleViewSchema,
} from '../../../events/model.js';
import { actorOf, errorResponses, pageOf, pageQuery, type ZodApp } from './common.js';
import { crudRoutes } from './crud.js';

/**
 * `/event-rules` CRUD (a webhook's secret goes in, never comes out: `secretSet`),
 * `GET /event-deliveries?status=&rule=` (newest first) and `POST /event-deliveries/{id}/retry`
 * (a dead or done delivery queued again). docs/events.md.
 */
export function ruleRoutes(app: ZodApp, events: EventRulesApi): void {
  crudRoutes(app, {
    noun: 'event-rule',
    path: '/event-rules',
    key: 'name',
    input: ruleInputSchema,
    patch: rulePatchSchema,
    view: ruleViewSchema,
    service: events.rules,
  });
  const tags = ['event-deliveries'];
  app.get(
    '/event-deliveries',
    {
      schema: {
        tags,
        summary: 'List deliveries of event rules (newest first)',
        querystring: pageQuery.extend({
          status: z.enum(deliveryStatuses).optional(),
          rule: z.string().optional(),
        }),
        response: { 200: pageOf(deliveryViewSchema), ...errorResponses },
      },
    },
    async (request) => {
      const { offset, limit, status, rule } = request.query;
      return { items: await events.deliveries.list({ offset, limit, status, rule }), offset, limit };
    },
  );
  app.get(
    '/event-deliveries/:id',
    {
      schema: {
        tags,
        summary: 'One delivery',
        params: z.object({ id: z.string().min(1) }),
        response: { 200: deliveryViewSchema, ...errorResponses },
      },
    },
    async (request) => events.deliveries.get(request.params.id),
  );
  app.post(
    '/event-deliveries/:id/retry',
    {
      schema: {
        tags,
        summary: 'Queue a dead (or done) delivery again, attempts from zero',
        params: z.object({ id: z.string().min(1) }),
        response: { 200: deliveryViewSchema, ...errorResponses },
      },
    },
    async (request) => events.deliveries.retry(request.params.id, actorOf(request)),
  );
}
