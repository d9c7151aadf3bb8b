import type { Accounts, Actor, CrudService, Page } from '../../accounts/types.js';
import type { EventRulesApi } from '../../events/events.js';
import type { Jobs } from '../../jobs/index.js';
import { StorageError } from '../../storage/errors.js';
import type { AdminApi, AdminCrud } from './admin-api.js';

/** The local admin CLI acts as `cli` with the admin role (whoever can read the data folder is admin). */
export const CLI_ACTOR: Actor = { kind: 'cli', name: 'cli', role: 'admin' };

/**
 * The admin CLI on a data folder: the account services opened on its store, as the server opens
 * them (SQLite in WAL mode lets this run beside a server; the server's caches learn of the
 * changes through the change feed).
 */
export function localAdminApi(
  accounts: Accounts,
  target: string,
  close: () => Promise<void>,
  events: EventRulesApi,
  jobs?: Jobs,
): AdminApi {
  const needJobs = (): Jobs => {
    if (!jobs) throw new StorageError('NotSupported', 'jobs are not available here');
    return jobs;
  };
  return {
    target,
    users: crud(accounts.users),
    groups: crud(accounts.groups),
    connections: crud(accounts.connections),
    mounts: crud(accounts.mounts),
    admins: crud(accounts.admins),
    apiKeys: {
      create: (input) => accounts.apiKeys.create(input, CLI_ACTOR),
      get: (id) => accounts.apiKeys.get(id),
      list: () => all((page) => accounts.apiKeys.list(page)),
      remove: (id) => accounts.apiKeys.remove(id, CLI_ACTOR),
    },
    rules: {
      ...crud(events.rules),
      deliveries: (filter) => events.deliveries.list({ ...filter, limit: filter.limit ?? 1000 }),
      retry: (id) => events.deliveries.retry(id, CLI_ACTOR),
    },
    jobs: {
      create: (input) => needJobs().store.create(input, CLI_ACTOR),
      get: (name) => needJobs().store.get(name),
      list: () => all((page) => needJobs().store.list(page)),
      update: (name, patch) => needJobs().store.update(name, patch, CLI_ACTOR),
      remove: (name) => needJobs().store.remove(name, CLI_ACTOR),
      run: async (name) => (await needJobs().trigger(name, CLI_ACTOR)).done,
      runs: (name, limit = 20) => needJobs().store.runs(name, { limit }),
      getRun: async (name, id) => {
        const run = await needJobs().store.getRun(id);
        if (run.job !== name) throw new StorageError('NotFound', `job ${name} has no run ${id}`);
        return run;
      },
    },
    close: async () => {
      await jobs?.close();
      await close();
    },
  };
}

function crud<I, P, V>(service: CrudService<I, P, V>): AdminCrud<I, P, V> {
  return {
    create: (input) => service.create(input, CLI_ACTOR),
    get: (key) => service.get(key),
    list: () => all((page) => service.list(page)),
    update: (key, patch) => service.update(key, patch, CLI_ACTOR),
    remove: (key) => service.remove(key, CLI_ACTOR),
  };
}

/** Every page of a listing. */
async function all<V>(list: (page: Page) => Promise<V[]>): Promise<V[]> {
  const out: V[] = [];
  const limit = 1000;
  for (let offset = 0; ; offset += limit) {
    const page = await list({ offset, limit });
    out.push(...page);
    if (page.length < limit) return out;
  }
}
