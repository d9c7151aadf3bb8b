import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { errorAnswer, statusOf } from '../../src/protocols/http/errors.js';
import { createLogger } from '../../src/server/logger.js';
import { StorageError, StorageErrorCodes } from '../../src/storage/errors.js';
import { call, startServer, type TestServer } from './support.js';

/** The logger's redaction, the error table, and /readyz following the server's readiness. */
describe('logger', () => {
  test('secrets are redacted at any depth; headers too', async () => {
    const lines: string[] = [];
    const logger = createLogger({
      destination: new Writable({
        write(chunk, _enc, done) {
          lines.push(String(chunk));
          done();
        },
      }) as unknown as { write(s: string): void },
    });
    logger.info(
      {
        password: 'pw-top-1',
        user: { password: 'pw-nested-2', name: 'alice' },
        conn: { settings: { secretAccessKey: 'sk-deep-3', sessionToken: 'st-deep-4' } },
        req: { headers: { authorization: 'Bearer ferry_abc_def5', cookie: 'ferry_admin=tok6', host: 'h' } },
        res: { headers: { 'set-cookie': 'ferry_user=tok7' } },
        token: 'tok8',
        apiKey: 'ferry_x_y9',
      },
      'hello',
    );
    logger.flush();
    const out = lines.join('');
    for (const secret of [
      'pw-top-1',
      'pw-nested-2',
      'sk-deep-3',
      'st-deep-4',
      'ferry_abc_def5',
      'tok6',
      'tok7',
      'tok8',
      'ferry_x_y9',
    ])
      expect(out).not.toContain(secret);
    expect(out).toContain('[redacted]');
    // What is not a secret stays.
    expect(JSON.parse(out)).toMatchObject({
      user: { name: 'alice' },
      req: { headers: { host: 'h' } },
      msg: 'hello',
    });
  });
});

describe('error table', () => {
  test('every StorageError code has a status; unknown errors are a generic 500', () => {
    for (const code of StorageErrorCodes) {
      const a = errorAnswer(new StorageError(code, `about ${code}`));
      expect(a.status).toBe(statusOf[code]);
      expect(a.body).toEqual({ error: { code, message: `about ${code}` } });
    }
    expect(statusOf.QuotaExceeded).toBe(507);
    const internal = errorAnswer(new Error('connect to postgres://ferry:hunter2@db failed'));
    expect(internal.status).toBe(500);
    expect(internal.internal).toBe(true);
    expect(JSON.stringify(internal.body)).not.toContain('hunter2');
  });
});

describe('readiness', () => {
  let s: TestServer;
  let ready = true;
  beforeAll(async () => {
    s = await startServer({ ready: () => ready });
  });
  afterAll(async () => {
    await s?.close();
  });

  test('/readyz follows ready(); /healthz stays up', async () => {
    expect((await call(s.base, 'GET', '/readyz')).status).toBe(200);
    ready = false;
    const r = await call(s.base, 'GET', '/readyz');
    expect(r.status).toBe(503);
    expect(r.body).toEqual({ status: 'unavailable' });
    expect((await call(s.base, 'GET', '/healthz')).status).toBe(200);
  });

  test('an unknown route: 404 in the error shape', async () => {
    const r = await call(s.base, 'GET', '/api/v1/nothing-here');
    expect(r.status).toBe(404);
    expect(r.body.error.code).toBe('NotFound');
  });
});
