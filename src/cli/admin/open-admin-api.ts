import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { eventRulesApi } from '../../events/events.js';
import { openLocalJobs } from '../../jobs/index.js';
import type { JobLog } from '../../jobs/runner.js';
import { loadServerConfig } from '../../server/config.js';
import { prepareDataDir } from '../../server/data-dir.js';
import { openServices } from '../../server/services.js';
import { StorageError } from '../../storage/errors.js';
import type { AdminApi } from './admin-api.js';
import type { AdminOptions } from './admin-command.js';
import { localAdminApi } from './local-admin-api.js';
import { remoteAdminApi } from './remote-admin-api.js';

/**
 * The admin API the flags name: `--server URL` (or $FERRY_SERVER) → the REST API with
 * `--api-key` (or $FERRY_API_KEY); otherwise the data folder's store, opened as `ferry serve`
 * opens it (same configuration sources, same secret key), which works beside a running server.
 */
export async function openAdminApi(
  opts: AdminOptions,
  env: NodeJS.ProcessEnv = process.env,
  warn?: (line: string) => void,
): Promise<AdminApi> {
  const server = opts.server ?? env.FERRY_SERVER;
  if (server) {
    const key = opts.apiKey ?? env.FERRY_API_KEY;
    if (!key) {
      throw new StorageError('InvalidArgument', '--api-key: needed with --server (or set FERRY_API_KEY)');
    }
    if (!/^https?:\/\//.test(server)) {
      throw new StorageError(
        'InvalidArgument',
        `--server: must be an http:// or https:// URL, got ${server}`,
      );
    }
    return remoteAdminApi(server, key);
  }
  const config = loadServerConfig({ data: opts.data, config: opts.config, database: opts.database }, env);
  // The CLI does not create a data folder by accident in whatever folder it was run from.
  if (!existsSync(config.data) && !/^postgres/i.test(config.database)) {
    throw new StorageError(
      'NotFound',
      `--data: no Ferry data folder at ${resolve(config.data)} (start \`ferry serve\` once, or pass --data DIR / --server URL)`,
    );
  }
  const dataDir = prepareDataDir(config);
  const services = await openServices(config, dataDir);
  const jobs = openLocalJobs(
    services,
    [dataDir.path, ...(/^postgres(ql)?:/.test(config.database) ? [] : [config.database])],
    config.jobs.leaseSeconds,
    warn && cliJobLog(warn),
  );
  return localAdminApi(
    services.accounts,
    `data folder ${config.data}`,
    () => services.close(),
    eventRulesApi(services.store, services.box, services.accounts),
    jobs,
  );
}

/**
 * A run's warnings in this process (`ferry job run`) as stderr lines: a heartbeat that failed
 * (the store out of reach, the lease at risk). The run's own end is the command's output.
 */
function cliJobLog(warn: (line: string) => void): JobLog {
  return {
    info: () => {},
    warn: (obj, msg) => {
      if (msg === 'job run') return;
      const o = obj as { run?: string; err?: string };
      warn(`ferry: ${msg}${o.run ? ` (run ${o.run})` : ''}${o.err ? `: ${o.err}` : ''}`);
    },
  };
}
