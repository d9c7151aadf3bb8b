import type {
  AdminInput,
  AdminView,
  ApiKeyInput,
  ApiKeyView,
  ConnectionInput,
  ConnectionView,
  GroupInput,
  GroupView,
  MountInput,
  MountView,
  UserInput,
  UserView,
} from '../../accounts/model.js';
import type { AdminPatch, ConnectionPatch, GroupPatch, MountPatch, UserPatch } from '../../accounts/types.js';
import type { DeliveryStatus, DeliveryView, RuleInput, RulePatch, RuleView } from '../../events/model.js';
import type { JobInput, JobPatch, JobView, RunView } from '../../jobs/model.js';

/** Create, read, list, change and remove one kind of entity. */
export interface AdminCrud<Input, Patch, View> {
  create(input: Input): Promise<View>;
  get(key: string): Promise<View>;
  list(): Promise<View[]>;
  update(key: string, patch: Patch): Promise<View>;
  remove(key: string): Promise<void>;
}

/**
 * What the admin CLI (`ferry user|group|connection|mount|apikey|admin …`) does, whichever way
 * it reaches the accounts: `local-admin-api.ts` opens the store of a data folder directly (also
 * while a server runs on it), `remote-admin-api.ts` calls a server's REST API (/api/v1) with an
 * API key. Both validate with the same schemas (src/accounts/model.ts) and throw StorageError.
 */
export interface AdminApi {
  /** Where the commands act (`data folder /srv/ferry-data`, `https://ferry.example.com`). */
  readonly target: string;
  users: AdminCrud<UserInput, UserPatch, UserView>;
  groups: AdminCrud<GroupInput, GroupPatch, GroupView>;
  connections: AdminCrud<ConnectionInput, ConnectionPatch, ConnectionView>;
  mounts: AdminCrud<MountInput, MountPatch, MountView>;
  admins: AdminCrud<AdminInput, AdminPatch, AdminView>;
  apiKeys: {
    /** The key's secret is in the answer once; it cannot be read again. */
    create(input: ApiKeyInput): Promise<{ key: ApiKeyView; secret: string }>;
    get(id: string): Promise<ApiKeyView>;
    list(): Promise<ApiKeyView[]>;
    remove(id: string): Promise<void>;
  };
  /** Event rules (`ferry rule …`) and their deliveries. */
  rules: AdminCrud<RuleInput, RulePatch, RuleView> & {
    deliveries(filter: { status?: DeliveryStatus; rule?: string; limit?: number }): Promise<DeliveryView[]>;
    retry(id: string): Promise<DeliveryView>;
  };
  /** Sync jobs (docs/jobs.md). */
  jobs: AdminCrud<JobInput, JobPatch, JobView> & {
    /**
     * Run a job now. Remote: on the server (`wait: false` returns as it starts); local: in this
     * process, always waiting for the end (the run would die with the CLI otherwise).
     */
    run(name: string, options?: { wait?: boolean }): Promise<RunView>;
    /** Its runs, newest first (at most `limit`, default 20). */
    runs(name: string, limit?: number): Promise<RunView[]>;
    getRun(name: string, id: string): Promise<RunView>;
  };
  close(): Promise<void>;
}
