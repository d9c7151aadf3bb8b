import { z } from 'zod';
import {
  connectionInputSchema,
  connectionPatchSchema,
  connectionViewSchema,
  nameSchema,
} from '../../../accounts/model.js';
import { runDoctor } from '../../../s3/doctor.js';
import { errorResponses, type RouteContext, type ZodApp } from './common.js';
import { crudRoutes } from './crud.js';

const checkSchema = z.object({
  name: z.string(),
  operation: z.string(),
  status: z.enum(['ok', 'denied', 'unsupported', 'failed', 'skipped']),
  action: z.string(),
  detail: z.string().optional(),
});
const testSchema = z.object({
  /** True when writing, reading back and deleting a test object all worked. */
  ok: z.boolean(),
  /** The first step that did not work, and the IAM action it needs. */
  failed: z
    .object({ step: z.string(), operation: z.string(), action: z.string(), detail: z.string().optional() })
    .optional(),
  access: z.string(),
  accessNote: z.string(),
  checks: z.array(checkSchema),
  problems: z.array(z.string()),
  refused: z.array(z.string()),
});

/** The steps that make a connection usable as a home. */
const ESSENTIAL = ['PutObject', 'GetObject', 'DeleteObject'];

/**
 * `/connections` CRUD (secrets go in, never come out: the view lists which are set) and
 * `POST /connections/{name}/test`: the doctor's write-read-delete test (src/s3/doctor.ts) on the
 * stored connection. The answer names the step that failed and its IAM action; it carries no
 * credential (not even the masked access key the CLI doctor prints).
 */
export function connectionRoutes(app: ZodApp, ctx: RouteContext): void {
  const connections = ctx.accounts.connections;
  crudRoutes(app, {
    noun: 'connection',
    path: '/connections',
    key: 'name',
    input: connectionInputSchema,
    patch: connectionPatchSchema,
    view: connectionViewSchema,
    service: connections,
  });
  app.post(
    '/connections/:name/test',
    {
      schema: {
        tags: ['connections'],
        summary: 'Write, read back and delete a test object with this connection',
        params: z.object({ name: nameSchema }),
        response: { 200: testSchema, ...errorResponses },
      },
    },
    async (request) => {
      const conn = await connections.resolve(request.params.name);
      const report = await runDoctor(conn, ctx.env ?? process.env, { tryOtherAddressing: false });
      const bad = report.checks.find((c) => c.status === 'denied' || c.status === 'failed');
      const ok = ESSENTIAL.every((op) => report.checks.some((c) => c.operation === op && c.status === 'ok'));
      return {
        ok,
        failed: bad
          ? { step: bad.name, operation: bad.operation, action: bad.action, detail: bad.detail }
          : undefined,
        access: report.access,
        accessNote: report.accessNote,
        checks: report.checks,
        problems: [
          ...report.problems,
          ...(report.credentials.error ? [`credentials: ${report.credentials.error}`] : []),
        ],
        refused: report.refused,
      };
    },
  );
}
