import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { Actor } from '../accounts/types.js';
import { type RunningEvents, startEvents } from '../events/events.js';
import { type Jobs, openJobs } from '../jobs/index.js';
import { buildHttpApp } from '../protocols/http/app.js';
import { type SshServer, startSshServer } from '../protocols/sftp/server.js';
import { processBudget } from '../s3/buffer-budget.js';
import { s3Sdk } from '../s3/sdk.js';
import { createSessionManager } from '../session/session-manager.js';
import { StorageError } from '../storage/errors.js';
import type { ServerConfig } from './config.js';
import { prepareDataDir } from './data-dir.js';
import { loadHostKeys } from './host-keys.js';
import { connectionForUrl } from './locations.js';
import { createLogger } from './logger.js';
import { createMetrics } from './metrics.js';
import { DEFAULT_CONNECTION, openServices } from './services.js';
import { checkSpillDir } from './spill-dir.js';

/** The server acting on its own behalf (first admin, the default connection). */
const SYSTEM: Actor = { kind: 'system', name: 'system', role: 'admin' };

export interface Listener {
  protocol: string;
  /** `http://127.0.0.1:8080` (the port actually bound when 0 was asked). */
  url: string;
}

export interface RunningServer {
  listeners: Listener[];
  /** This node's account services and session layer (tests and in-process tooling look in). */
  accounts: Awaited<ReturnType<typeof openServices>>['accounts'];
  sessions: ReturnType<typeof createSessionManager>;
  /** Event rules on this node (docs/events.md). */
  events: RunningEvents;
  /** This node's sync jobs (store, runner, scheduler when `jobs.enabled`). */
  jobs: Jobs;
  /**
   * Stop accepting, give open transfers `graceMs` to finish, abort the rest cleanly (no partial
   * object, no forgotten multipart upload), close the store. Idempotent.
   */
  stop(graceMs: number): Promise<void>;
}

export interface StartOptions {
  /** Lines for the operator (stdout): what was created, where to log in, the listeners. */
  say?: (line: string) => void;
  env?: NodeJS.ProcessEnv;
}

/**
 * `ferry serve`: prepare the data folder, open the store (migrations) and the accounts, create the
 * first admin on first start, set up the default storage, start the session layer and every
 * protocol server, and print one line per listener.
 */
export async function startServer(config: ServerConfig, options: StartOptions = {}): Promise<RunningServer> {
  const say = options.say ?? (() => {});
  const env = options.env ?? process.env;
  checkSpillDir(env);
  // Every transfer of the process shares this budget (S3 parts, SFTP/SCP data received).
  if (config.memoryBudgetBytes !== undefined) processBudget.setLimit(config.memoryBudgetBytes);
  const dataDir = prepareDataDir(config, say);
  const services = await openServices(config, dataDir);
  const { accounts } = services;
  let app: ReturnType<typeof buildHttpApp> | undefined;
  let ssh: SshServer | undefined;
  let events: RunningEvents | undefined;
  let jobs: Jobs | undefined;
  /** The listener being started, for naming it when its address is taken. */
  let starting: { name: string; flag: string; host: string; port: number } = {
    name: 'http',
    flag: '--http',
    ...config.listen.http,
  };
  // Started now, awaited when SSH starts: a first start generates the keys meanwhile.
  const hostKeys = config.sftp.listen ? loadHostKeys(services.store, services.box) : undefined;
  hostKeys?.catch(() => {}); // awaited below; a failure before that must not be unhandled
  try {
    const created = await firstAdmin(services.accounts, env);
    await defaultStorage(services.accounts, config, env, say);

    const logger = createLogger({ level: config.logLevel });
    const metrics = createMetrics();
    const sessions = createSessionManager({
      accounts,
      store: services.store,
      s3ClientOptions: { observer: metrics.s3Observer },
      onError: (err) => logger.error({ err }, 'session layer'),
      // The data folder (secret.key, ferry.db) and a SQLite store elsewhere: never a user's files.
      protectedPaths: [dataDir.path, ...(/^postgres(ql)?:/.test(config.database) ? [] : [config.database])],
      limits: {
        maxWriteHandles: config.sessions.maxWriteHandles,
        maxReadHandles: config.sessions.maxReadHandles,
        handleMemory: config.sessions.handleMemoryBytes,
      },
    });
    let stopping = false;
    metrics.attach(sessions);
    events = await startEvents({
      store: services.store,
      box: services.box,
      accounts,
      sessions,
      pool: sessions.pool,
      settings: config.events,
      smtp: config.smtp,
      onError: (err) => logger.error({ err }, 'event rules'),
    });
    jobs = openJobs({
      store: services.store,
      accounts,
      pool: sessions.pool,
      schedule: config.jobs.enabled,
      leaseSeconds: config.jobs.leaseSeconds,
      log: logger,
    });
    app = buildHttpApp({
      accounts,
      sessions,
      metrics,
      logger,
      ready: () => !stopping,
      quotaUsage: (username) => sessions.ledger.usage(username),
      idleTimeoutMs: config.httpIdleTimeoutSeconds * 1000,
      trustProxy: config.trustProxy,
      loginTtlSeconds: config.loginTtlSeconds,
      env,
      events,
      jobs,
    });
    const { host, port } = config.listen.http;
    await app.listen({ host, port });
    const address = app.server.address() as AddressInfo;
    const listeners: Listener[] = [
      { protocol: 'http', url: `http://${urlHost(address.address)}:${address.port}` },
    ];
    if (config.sftp.listen && hostKeys) {
      starting = { name: 'sftp', flag: '--sftp', ...config.sftp.listen };
      const keys = await hostKeys;
      ssh = await startSshServer({
        sessions,
        hostKeys: keys.map((k) => k.privateKey),
        logger,
        listen: config.sftp.listen,
        options: config.sftp.options,
        memory: processBudget,
        banner: config.sftp.banner,
        ciphers: config.sftp.ciphers,
        loginGraceMs: config.sftp.loginGraceMs,
        idleTimeoutMs: config.sftp.idleTimeoutMs,
        proxyProtocol: { mode: config.sftp.proxyProtocol, trusted: config.sftp.proxyTrusted },
        isBanned: async (remote) => (await accounts.defender.bannedUntil(remote)) !== undefined,
        keyAccepted: async (username, key) =>
          (await accounts.users.verifyPublicKey(username, key.algorithm, key.data)) !== undefined,
      });
      listeners.push({ protocol: 'sftp', url: `sftp://${urlHost(ssh.address.address)}:${ssh.address.port}` });
      logger.info({ hostKeys: keys.map((k) => `${k.type} ${k.fingerprint}`) }, 'sftp host keys');
    }
    if (created) {
      say(
        created.fromEnv
          ? 'created the admin account "admin" with the password from FERRY_ADMIN_PASSWORD'
          : `created the admin account "admin" with the password ${created.password} (shown once; change it: ferry admin set admin --password-stdin)`,
      );
      say(
        `log in: curl -c cookies.txt -H 'content-type: application/json' -d '{"username":"admin","password":"…"}' ${listeners[0]?.url}/api/v1/admin/login`,
      );
    }
    for (const l of listeners) say(`${l.protocol}: listening on ${l.url}`);
    // Homes on S3: the AWS SDK (~0.4 s of CPU to load) now, not in the first login to use it,
    // which would wait for it (and an upload's first part with it).
    if (config.storage.type !== 'local') setImmediate(() => s3Sdk());

    const http = app;
    const sftp = ssh;
    const rules = events;
    const nodeJobs = jobs;
    let stopped: Promise<void> | undefined;
    return {
      listeners,
      accounts,
      sessions,
      events: rules,
      jobs: nodeJobs,
      stop: (graceMs) => {
        stopped ??= (async () => {
          stopping = true;
          // Closing the listener first: no new connections; requests in flight go on until the
          // session layer has let them finish (grace) or aborted their transfers.
          const closing = http.close();
          sftp?.stopAccepting();
          await sessions.shutdown(graceMs);
          // Every event is in: what rules matched is queued before the store closes.
          await rules.stop();
          // Sync runs of this node are aborted and recorded failed (a scheduled job runs again
          // at its next tick, on whichever node claims it).
          // A store gone silent would hold them: each query is bounded, and so is this wait.
          const recordWaitMs = (config.databaseTimeouts.queryTimeoutMs || 60_000) + 1000;
          const unrecorded = await nodeJobs.close(recordWaitMs);
          if (unrecorded.length > 0)
            logger.warn(
              { runs: unrecorded, waitedMs: recordWaitMs },
              `stopping: ${unrecorded.length} job run(s) had not ended and been recorded after ${Math.round(recordWaitMs / 1000)} s (the store or the run's storage does not answer); stopping without their records: another node marks them failed when their lease is over`,
            );
          // Sessions are closed (uploads aborted): the SSH connections are ended.
          await sftp?.close();
          // Aborted transfers end their requests; a client that still holds a connection open
          // after that (a stalled upload body) is cut off.
          const forced = setTimeout(() => http.server.closeAllConnections(), 2000);
          await closing;
          clearTimeout(forced);
          await services.close();
        })();
        return stopped;
      },
    };
  } catch (err) {
    await ssh?.close().catch(() => {});
    await app?.close().catch(() => {});
    await events?.stop().catch(() => {});
    await jobs?.close().catch(() => {});
    await services.close();
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      const { name, flag, host, port } = starting;
      throw new StorageError(
        'InvalidArgument',
        `${name}: ${host}:${port} is already in use (choose another with ${flag})`,
      );
    }
    throw err;
  }
}

function urlHost(address: string): string {
  return address.includes(':') ? `[${address}]` : address;
}

/**
 * First start: an admin `admin` with `FERRY_ADMIN_PASSWORD` or a random password (printed once, by
 * the caller, with the URL to log in at). Of two nodes starting at once on one store, the second
 * finds the admin there (AlreadyExists) and creates nothing.
 */
async function firstAdmin(
  accounts: Awaited<ReturnType<typeof openServices>>['accounts'],
  env: NodeJS.ProcessEnv,
): Promise<{ password: string; fromEnv: boolean } | undefined> {
  if (!(await accounts.admins.isEmpty())) return undefined;
  const given = env.FERRY_ADMIN_PASSWORD;
  const password = given || randomBytes(15).toString('base64url');
  try {
    await accounts.admins.create({ username: 'admin', password, role: 'admin' }, SYSTEM);
  } catch (err) {
    if (StorageError.is(err, 'AlreadyExists')) return undefined;
    if (given && StorageError.is(err, 'InvalidArgument')) {
      throw new StorageError(
        'InvalidArgument',
        `FERRY_ADMIN_PASSWORD: ${err.message.replace(/^password: /, '')}`,
      );
    }
    throw err;
  }
  return { password, fromEnv: Boolean(given) };
}

/**
 * The default storage: a local folder is created; an `s3://` URL is saved as the connection
 * `default` (keys sealed by the accounts service); a named connection must exist.
 */
async function defaultStorage(
  accounts: Awaited<ReturnType<typeof openServices>>['accounts'],
  config: ServerConfig,
  env: NodeJS.ProcessEnv,
  say: (line: string) => void,
): Promise<void> {
  const storage = config.storage;
  if (storage.type === 'local') {
    mkdirSync(storage.path, { recursive: true, mode: 0o700 });
    return;
  }
  if (storage.type === 's3') {
    const connections = {
      list: () => accounts.connections.list({ limit: 1000 }),
      create: (input: Parameters<typeof accounts.connections.create>[0]) =>
        accounts.connections.create(input, SYSTEM),
      update: (name: string, patch: Parameters<typeof accounts.connections.update>[1]) =>
        accounts.connections.update(name, patch, SYSTEM),
    };
    // Several nodes starting at once on one PostgreSQL: another may create it between our look and
    // our create; then it exists, and the second look updates it.
    const c = await connectionForUrl(connections, storage.url, env, DEFAULT_CONNECTION).catch((err) => {
      if (StorageError.is(err, 'AlreadyExists'))
        return connectionForUrl(connections, storage.url, env, DEFAULT_CONNECTION);
      throw err;
    });
    say(`${c.created ? 'saved' : 'updated'} the default storage as the connection "${DEFAULT_CONNECTION}"`);
    return;
  }
  await accounts.connections.get(storage.name).catch((err) => {
    if (StorageError.is(err, 'NotFound')) {
      throw new StorageError(
        'NotFound',
        `storage: no connection named ${storage.name} (ferry connection add …)`,
      );
    }
    throw err;
  });
}
