import type { DeliveryView } from '../../events/model.js';
import { StorageError, type StorageErrorCode, StorageErrorCodes } from '../../storage/errors.js';
import type { AdminApi, AdminCrud } from './admin-api.js';

/** Collections of the REST API (src/protocols/http/), under /api/v1. */
const PATHS = {
  users: 'users',
  groups: 'groups',
  connections: 'connections',
  mounts: 'mounts',
  admins: 'admins',
  apiKeys: 'api-keys',
  rules: 'event-rules',
  deliveries: 'event-deliveries',
  jobs: 'jobs',
} as const;

/**
 * The admin CLI on a running server: the REST API at `<server>/api/v1` with an API key (sent as
 * `Authorization: Bearer`, never printed). The server validates with the same schemas; its 4xx
 * answers come back as the StorageError they stand for, with the server's message.
 */
export function remoteAdminApi(server: string, apiKey: string): AdminApi {
  const base = `${server.replace(/\/+$/, '')}/api/v1`;
  const call = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    let res: Response;
    try {
      res = await fetch(`${base}/${path}`, {
        method,
        headers: {
          authorization: `Bearer ${apiKey}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      throw new StorageError('Transient', `cannot reach the server ${server}: ${causeOf(err)}`, {
        cause: err,
      });
    }
    const text = await res.text();
    if (!res.ok) throw errorFrom(res.status, text, `${method} ${base}/${path}`);
    return (text ? JSON.parse(text) : undefined) as T;
  };
  const crud = <I, P, V>(collection: string): AdminCrud<I, P, V> => ({
    create: (input) => call('POST', collection, input),
    get: (key) => call('GET', `${collection}/${encodeURIComponent(key)}`),
    list: () => listAll<V>(call, collection),
    update: (key, patch) => call('PATCH', `${collection}/${encodeURIComponent(key)}`, patch),
    remove: async (key) => {
      await call('DELETE', `${collection}/${encodeURIComponent(key)}`);
    },
  });
  return {
    target: server,
    users: crud(PATHS.users),
    groups: crud(PATHS.groups),
    connections: crud(PATHS.connections),
    mounts: crud(PATHS.mounts),
    admins: crud(PATHS.admins),
    apiKeys: {
      create: (input) => call('POST', PATHS.apiKeys, input),
      get: (id) => call('GET', `${PATHS.apiKeys}/${encodeURIComponent(id)}`),
      list: () => listAll(call, PATHS.apiKeys),
      remove: async (id) => {
        await call('DELETE', `${PATHS.apiKeys}/${encodeURIComponent(id)}`);
      },
    },
    rules: {
      ...crud(PATHS.rules),
      deliveries: async (filter) => {
        const q = new URLSearchParams({ limit: String(filter.limit ?? 1000) });
        if (filter.status) q.set('status', filter.status);
        if (filter.rule) q.set('rule', filter.rule);
        return (await call<{ items: DeliveryView[] }>('GET', `${PATHS.deliveries}?${q}`)).items;
      },
      retry: (id) => call('POST', `${PATHS.deliveries}/${encodeURIComponent(id)}/retry`),
    },
    jobs: {
      ...crud(PATHS.jobs),
      run: (name, options = {}) =>
        call('POST', `${PATHS.jobs}/${encodeURIComponent(name)}/run?wait=${options.wait ? 'true' : 'false'}`),
      runs: async (name, limit = 20) =>
        (
          await call<{ items: never[] }>(
            'GET',
            `${PATHS.jobs}/${encodeURIComponent(name)}/runs?limit=${limit}`,
          )
        ).items,
      getRun: (name, id) =>
        call('GET', `${PATHS.jobs}/${encodeURIComponent(name)}/runs/${encodeURIComponent(id)}`),
    },
    close: async () => {},
  };
}

type Call = <T>(method: string, path: string, body?: unknown) => Promise<T>;

/** Every page of a collection (`?offset=&limit=`); accepts a bare array or `{ items }`. */
async function listAll<V>(call: Call, collection: string): Promise<V[]> {
  const out: V[] = [];
  const limit = 1000;
  for (let offset = 0; ; offset += limit) {
    const answer = await call<V[] | { items: V[] }>('GET', `${collection}?offset=${offset}&limit=${limit}`);
    const page = Array.isArray(answer) ? answer : answer.items;
    out.push(...page);
    if (page.length < limit) return out;
  }
}

const BY_STATUS: Record<number, StorageErrorCode> = {
  400: 'InvalidArgument',
  401: 'PermissionDenied',
  403: 'PermissionDenied',
  404: 'NotFound',
  409: 'Conflict',
  413: 'QuotaExceeded',
  507: 'QuotaExceeded',
};

function errorFrom(status: number, text: string, what: string): StorageError {
  let message = text.slice(0, 500);
  let code: StorageErrorCode = BY_STATUS[status] ?? (status >= 500 ? 'Transient' : 'InvalidArgument');
  try {
    const body = JSON.parse(text) as {
      code?: string;
      message?: string;
      error?: string | { code?: string; message?: string };
    };
    const inner = typeof body.error === 'object' ? body.error : body;
    if (inner?.message) message = inner.message;
    else if (typeof body.error === 'string') message = body.error;
    if (inner?.code && isCode(inner.code)) code = inner.code;
  } catch {
    // not JSON: the text as it came
  }
  return new StorageError(code, `${message || `HTTP ${status}`} (${what}: HTTP ${status})`);
}

const isCode = (c: string): c is StorageErrorCode => (StorageErrorCodes as readonly string[]).includes(c);

function causeOf(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (err as Error).message;
}
