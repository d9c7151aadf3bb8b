import { posix } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { publicError } from '../../../session/errors.js';
import type { Session } from '../../../session/types.js';
import { StorageError } from '../../../storage/errors.js';
import { type Entry, listCursor } from '../../../storage/types.js';
import { parseRange } from '../range.js';
import { errorResponses, type RouteContext } from './common.js';

const pathSchema = z.string().min(1).max(4096);
const entrySchema = z.object({
  path: z.string(),
  name: z.string(),
  type: z.enum(['file', 'dir']),
  size: z.number().int(),
  mtime: z.string(),
  etag: z.string().optional(),
  contentType: z.string().optional(),
});
const fileErrors = { ...errorResponses, 416: errorResponses[400], 507: errorResponses[400] };

/** A path as the answer shows it: absolute in the user's tree, `..` resolved (never above `/`). */
function shown(path: string): string {
  return posix.normalize(posix.join('/', path));
}

/** An entry as answers show it (the session's entries carry the virtual path without its `/`). */
function view(entry: Entry) {
  const path = `/${entry.path.replace(/^\/+/, '')}`;
  return {
    path,
    name: posix.basename(path),
    type: entry.type,
    size: entry.size,
    mtime: entry.mtime.toISOString(),
    etag: entry.etag,
    contentType: entry.contentType,
  };
}

/**
 * An upload through a session write handle, one chunk at a time: each chunk is written (and
 * its memory released) before the next is read, so a body is never held whole. (Session.write
 * did the same but kept every chunk reachable until the upload ended: see the report of issue 8.)
 * On any failure the handle is aborted: nothing is left behind.
 */
async function writeStream(
  session: Session,
  path: string,
  body: Readable,
  options: { size?: number; signal: AbortSignal },
): Promise<Entry> {
  const handle = await session.openWrite(path, { mode: 'truncate', ...options });
  let offset = handle.startOffset;
  try {
    for await (const chunk of body) {
      options.signal.throwIfAborted();
      await handle.write(offset, chunk as Buffer);
      offset += (chunk as Buffer).length;
    }
    options.signal.throwIfAborted();
    return await handle.close();
  } catch (err) {
    await handle.abort();
    body.destroy();
    throw publicError(err, shown(path));
  }
}

/** Fires when the client goes away before the answer was sent whole. */
function clientGone(reply: FastifyReply): AbortSignal {
  const ac = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) ac.abort(new Error('the client went away'));
  });
  return ac.signal;
}

/**
 * The user's file API under `/api/v1/user/files`: every request opens a session of its user
 * (cookie, Basic or user API key; auth.ts) and goes through it only — the session layer resolves
 * the path inside the user's tree (`..`, mounts, permissions, quota). Uploads and downloads stream:
 * a body is never held whole in memory. A delete removes a file or an empty folder only (no
 * recursive delete: a script lists and deletes, so nothing large goes by one mistyped request).
 */
export const fileRoutes: FastifyPluginAsync<{ ctx: RouteContext }> = async (base, { ctx }) => {
  const app = base.withTypeProvider<ZodTypeProvider>();
  const tags = ['files'];
  const open = (request: Parameters<typeof ctx.auth.userSession>[0], reply: FastifyReply): Promise<Session> =>
    ctx.auth.userSession(request, reply);

  app.get(
    '/files',
    {
      schema: {
        tags,
        summary: 'List a folder, a page at a time (`next` is the cursor of the next page)',
        querystring: z.object({
          path: pathSchema.default('/'),
          limit: z.coerce.number().int().min(1).max(1000).default(1000),
          startAfter: z.string().min(1).optional(),
        }),
        response: {
          200: z.object({ entries: z.array(entrySchema), next: z.string().optional() }),
          ...fileErrors,
        },
      },
    },
    async (request, reply) => {
      const session = await open(request, reply);
      const { path, limit, startAfter } = request.query;
      const entries = [];
      let last: Entry | undefined;
      for await (const e of session.list(path, { limit, startAfter, signal: clientGone(reply) })) {
        entries.push(view(e));
        last = e;
      }
      return { entries, next: entries.length === limit && last ? listCursor(last) : undefined };
    },
  );

  app.get(
    '/files/stat',
    {
      schema: {
        tags,
        summary: 'One file or folder',
        querystring: z.object({ path: pathSchema }),
        response: { 200: entrySchema, ...fileErrors },
      },
    },
    async (request, reply) => {
      const session = await open(request, reply);
      const entry = await session.stat(request.query.path, { signal: clientGone(reply) });
      return view(entry);
    },
  );

  app.get(
    '/files/content',
    {
      schema: {
        tags,
        summary: 'Download a file; one `Range: bytes=a-b` gives 206 (416 when past the end)',
        querystring: z.object({ path: pathSchema }),
        response: fileErrors,
      },
    },
    async (request, typedReply) => {
      // The body is bytes, not a document the serializer knows: answered through the plain reply.
      const reply = typedReply as unknown as FastifyReply;
      const session = await open(request, reply);
      const signal = clientGone(reply);
      const handle = await session.openRead(request.query.path, { signal });
      const { entry } = handle;
      const range = parseRange(request.headers.range, entry.size);
      reply.header('accept-ranges', 'bytes');
      reply.header('last-modified', entry.mtime.toUTCString());
      if (entry.etag) reply.header('etag', entry.etag.startsWith('"') ? entry.etag : `"${entry.etag}"`);
      if (range.kind === 'unsatisfiable') {
        await handle.close();
        reply.header('content-range', `bytes */${entry.size}`);
        return reply.status(416).send({
          error: {
            code: 'InvalidArgument',
            message: `range not satisfiable: the file has ${entry.size} bytes`,
          },
        });
      }
      const [start, end] = range.kind === 'part' ? [range.start, range.end] : [0, entry.size - 1];
      const length = end - start + 1;
      const body = handle.stream(start, length, { signal });
      body.once('close', () => void handle.close().catch(() => {}));
      if (range.kind === 'part')
        reply.status(206).header('content-range', `bytes ${start}-${end}/${entry.size}`);
      return reply
        .type(entry.contentType ?? 'application/octet-stream')
        .header('content-length', String(length))
        .send(body);
    },
  );

  // Uploads take any body as a stream, so they live in a scope of their own without body parsers.
  await app.register(async (scope) => {
    const up = scope.withTypeProvider<ZodTypeProvider>();
    up.removeAllContentTypeParsers();
    up.addContentTypeParser('*', (_request, payload, done) => done(null, payload));
    up.put(
      '/files/content',
      {
        schema: {
          tags,
          summary: 'Upload a file (the body, streamed; Content-Length is checked): 201 with the new entry',
          querystring: z.object({ path: pathSchema }),
          response: { 201: entrySchema, ...fileErrors },
        },
      },
      async (request, reply) => {
        const session = await open(request, reply);
        const declared = request.headers['content-length'];
        const size = declared === undefined ? undefined : Number(declared);
        if (size !== undefined && !Number.isSafeInteger(size)) {
          throw new StorageError('InvalidArgument', 'headers.content-length: not a byte count');
        }
        const raw = request.body as Readable | undefined;
        const { path } = request.query;
        if (!raw) {
          const entry = await session.write(path, Buffer.alloc(0), { size, signal: clientGone(reply) });
          return reply.status(201).send(view(entry));
        }
        // The session gets a stream of its own: when the write fails early (quota, permission),
        // destroying it must not destroy the request, whose socket still has to carry the error
        // answer. What the client still sends is then read and dropped (curl stops sending when
        // it sees the answer); a client that goes away ends `body` with an error.
        const body = new PassThrough();
        raw.pipe(body);
        raw.once('error', (err) => body.destroy(err));
        raw.once('aborted', () => body.destroy(new Error('the client went away')));
        try {
          const entry = await writeStream(session, path, body, { size, signal: clientGone(reply) });
          return reply.status(201).send(view(entry));
        } catch (err) {
          raw.unpipe(body);
          raw.resume();
          throw err;
        }
      },
    );
  });

  app.post(
    '/files/mkdir',
    {
      schema: {
        tags,
        summary: 'Create a folder (and missing parents)',
        body: z.object({ path: pathSchema }),
        response: { 201: z.object({ path: z.string() }), ...fileErrors },
      },
    },
    async (request, reply) => {
      const session = await open(request, reply);
      await session.mkdir(request.body.path, { signal: clientGone(reply) });
      return reply.status(201).send({ path: shown(request.body.path) });
    },
  );

  app.post(
    '/files/rename',
    {
      schema: {
        tags,
        summary: 'Rename or move a file or folder; `replace` lets a file replace an existing one',
        body: z.object({ from: pathSchema, to: pathSchema, replace: z.boolean().default(false) }),
        response: { 200: z.object({ from: z.string(), to: z.string() }), ...fileErrors },
      },
    },
    async (request, reply) => {
      const session = await open(request, reply);
      const { from, to, replace } = request.body;
      await session.rename(from, to, { replace, signal: clientGone(reply) });
      return { from: shown(from), to: shown(to) };
    },
  );

  app.delete(
    '/files',
    {
      schema: {
        tags,
        summary: 'Delete a file or an empty folder (409 NotEmpty for a folder with files)',
        querystring: z.object({ path: pathSchema }),
        response: { 204: z.null(), ...fileErrors },
      },
    },
    async (request, reply) => {
      const session = await open(request, reply);
      const { path } = request.query;
      const signal = clientGone(reply);
      const entry = await session.stat(path, { signal });
      if (entry.type === 'dir') await session.rmdir(path, { signal });
      else await session.remove(path, { signal });
      return reply.status(204).send(null);
    },
  );
};
