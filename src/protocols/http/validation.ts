import type { FastifySchemaCompiler } from 'fastify';
import type { z } from 'zod';

type Issue = z.core.$ZodIssue;

/**
 * A request that does not match its route's zod schema. fastify adds `validationContext`
 * (`body`, `querystring`, `params`, `headers`); `field` and the message then name the first bad
 * field the way a client wrote it: `body.password`, `body.allowedIps.0`,
 * `body.permissions["/incoming"].0`, `query.limit`.
 */
export class RequestValidationError extends Error {
  validationContext?: string;
  constructor(readonly issues: Issue[]) {
    super('request validation failed');
  }

  /** The first issue, descended into a union's first alternative, with its full path. */
  private first(): { path: PropertyKey[]; message: string } {
    let path: PropertyKey[] = [];
    let issue: Issue | undefined = this.issues[0];
    while (issue) {
      path = [...path, ...issue.path];
      if (issue.code === 'invalid_union') {
        const { discriminator } = issue as { discriminator?: string };
        if (discriminator) {
          // zod puts the discriminator in the path already; older versions did not.
          const at = path.at(-1) === discriminator ? path : [...path, discriminator];
          return { path: at, message: 'not one of the allowed values' };
        }
        const inner = issue.errors[0]?.[0];
        if (inner) {
          issue = inner;
          continue;
        }
      }
      return { path, message: issue.message };
    }
    return { path, message: 'invalid' };
  }

  get field(): string {
    const where = this.validationContext === 'querystring' ? 'query' : (this.validationContext ?? 'body');
    return where + this.first().path.map(segment).join('');
  }

  get detail(): string {
    return `${this.field}: ${this.first().message}`;
  }
}

function segment(key: PropertyKey): string {
  if (typeof key === 'number') return `.${key}`;
  const s = String(key);
  return /^[A-Za-z_$][\w$-]*$/.test(s) ? `.${s}` : `[${JSON.stringify(s)}]`;
}

/** fastify's validator compiler for zod schemas (the value fastify keeps is zod's output). */
export const validatorCompiler: FastifySchemaCompiler<z.ZodType> =
  ({ schema }) =>
  (data) => {
    const result = schema.safeParse(data);
    return result.success
      ? { value: result.data }
      : { error: new RequestValidationError(result.error.issues) };
  };
