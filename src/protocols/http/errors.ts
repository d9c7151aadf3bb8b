import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { StorageError, type StorageErrorCode } from '../../storage/errors.js';
import { RequestValidationError } from './validation.js';

/**
 * The one table from StorageError code to HTTP status, and the one shape of an error answer:
 * `{ "error": { "code", "message", "field"? } }`. `code` is the StorageError code (a closed set a
 * client can switch on); `field` names the bad input (`body.password`, `query.limit`).
 *
 * Decisions: QuotaExceeded is 507 Insufficient Storage for every upload (also one that alone is
 * larger than the quota: the client cannot tell "too large" from "too full" without knowing the
 * others' uploads, and 413 would suggest a request-size limit of the server); IsADirectory is 409
 * (the path is fine, the thing there is the wrong kind), NotADirectory 400 (a path through a file
 * is malformed for this tree).
 */
export const statusOf: Record<StorageErrorCode, number> = {
  InvalidArgument: 400,
  NotFound: 404,
  AlreadyExists: 409,
  Conflict: 409,
  NotEmpty: 409,
  IsADirectory: 409,
  NotADirectory: 400,
  PermissionDenied: 403,
  QuotaExceeded: 507,
  NotSupported: 501,
  Transient: 503,
};

export interface ErrorBody {
  error: { code: string; message: string; field?: string };
}

/**
 * Authentication missing or wrong: 401 (PermissionDenied is 403: known, but not allowed). Its
 * message never says which part of the credentials was wrong.
 */
export class AuthenticationRequired extends StorageError {
  constructor(
    message = 'authentication required',
    readonly challenge?: string,
  ) {
    super('PermissionDenied', message);
  }
}

/** A StorageError naming the input field it is about (`body.owner`). */
export function invalidField(field: string, message: string): StorageError & { field: string } {
  return Object.assign(new StorageError('InvalidArgument', `${field}: ${message}`), { field });
}

function fieldOf(err: unknown): string | undefined {
  const f = (err as { field?: unknown }).field;
  return typeof f === 'string' ? f : undefined;
}

/**
 * Status and body for any error a route throws. Request validation errors (zod) → 400 naming
 * the first bad field; StorageError → the table; fastify's own 4xx errors (bad JSON, body too
 * large, unsupported media type) keep their status as InvalidArgument / NotSupported; anything
 * else → 500 with a generic message (the details go to the log only).
 */
export function errorAnswer(err: unknown): { status: number; body: ErrorBody; internal: boolean } {
  if (err instanceof RequestValidationError) {
    const error = { code: 'InvalidArgument', message: err.detail, field: err.field };
    return { status: 400, body: { error }, internal: false };
  }
  if (err instanceof AuthenticationRequired) {
    return { status: 401, body: { error: { code: err.code, message: err.message } }, internal: false };
  }
  if (err instanceof StorageError) {
    const field = fieldOf(err);
    const error: ErrorBody['error'] = { code: err.code, message: err.message };
    if (field) error.field = field;
    return { status: statusOf[err.code], body: { error }, internal: false };
  }
  const fe = err as Partial<FastifyError>;
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500 && fe.code) {
    const code = fe.statusCode === 415 ? 'NotSupported' : 'InvalidArgument';
    return {
      status: fe.statusCode,
      body: { error: { code, message: fe.message ?? 'bad request' } },
      internal: false,
    };
  }
  return {
    status: 500,
    body: { error: { code: 'Internal', message: 'internal error (see the server log)' } },
    internal: true,
  };
}

/** fastify's error handler: answers per `errorAnswer`, logs 500s with their details. */
export function handleError(err: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const answer = errorAnswer(err);
  if (answer.internal) request.log.error({ err }, 'request failed');
  else request.log.info({ code: answer.body.error.code, status: answer.status }, answer.body.error.message);
  if (err instanceof AuthenticationRequired && err.challenge) reply.header('www-authenticate', err.challenge);
  if (reply.sent || reply.raw.headersSent) {
    // A streamed answer already began: the only honest signal left is to cut the connection.
    reply.raw.destroy();
    return;
  }
  void reply.status(answer.status).send(answer.body);
}
