import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import ipaddr from 'ipaddr.js';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { defaultEventsSettings } from '../events/settings.js';
import { defaultSftpOptions, type SftpOptions } from '../protocols/sftp/types.js';
import { StorageError } from '../storage/errors.js';

/**
 * The settings of `ferry serve`, declared once: this schema gives the defaults, the validation,
 * the YAML keys, the `FERRY_*` variables (`FERRY_` + the key in upper snake case, `__` between
 * nested keys: `FERRY_SHUTDOWN_GRACE_SECONDS`, `FERRY_DEFENDER__BAN_SECONDS`) and
 * docs/server.md's reference table. Precedence: flags > environment > YAML file > defaults.
 */

/** `host:port` (`[::1]:8080` for IPv6); port 0 picks a free port. */
const listenSchema = z
  .string()
  .regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, {
    message: 'must be host:port (127.0.0.1:8080, [::1]:8080, 0.0.0.0:0)',
    abort: true,
  })
  .refine((v) => Number(v.slice(v.lastIndexOf(':') + 1)) <= 65535, 'port must be 0–65535');

/**
 * `10.0.0.1, 10.1.0.0/16, ::1`: every entry a full IPv4/IPv6 address or range. fastify's own
 * parser takes legacy forms (`1` is 0.0.0.1), so a hop count given here would trust nobody.
 */
function proxyAddresses(value: string): boolean {
  return value.split(',').every((entry) => {
    const [addr = '', bits, ...rest] = entry.trim().split('/');
    const full = ipaddr.IPv4.isValidFourPartDecimal(addr) || ipaddr.IPv6.isValid(addr);
    if (!full || rest.length > 0) return false;
    return bits === undefined || ipaddr.isValidCIDR(`${addr}/${bits}`);
  });
}

/** Numbers from the environment arrive as strings: accept digits there and in the file. */
const count = (min = 0) =>
  z.preprocess(
    (v) => (typeof v === 'string' && /^\s*\d+\s*$/.test(v) ? Number(v) : v),
    z.number({ error: 'must be a whole number' }).int('must be a whole number').min(min),
  );

/** The smallest memory budget: one default part (16 MiB) must fit. */
const MIN_MEMORY_BUDGET = 16 * 1024 * 1024;

export const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const defaultSmtp = {
  host: '',
  port: 587,
  secure: false,
  requireTls: false,
  user: '',
  password: '',
  from: 'ferry@localhost',
};

export const serverConfigSchema = z.strictObject({
  /** The data folder: database, secret key, local files, host keys. Created (0700) on first start. */
  data: z.string().min(1).default('./ferry-data'),
  /** `postgres://user:pass@host/db` (several nodes), or a SQLite file; default `<data>/ferry.db`. */
  database: z.string().min(1).optional(),
  /**
   * Where users' homes go when their account names none: a local folder (absolute, or `./…`),
   * an `s3://bucket/prefix` URL (saved as the connection `default`), or a named connection
   * (`NAME` or `NAME:prefix`). Default: the local folder `<data>/files`.
   */
  storage: z.string().min(1).optional(),
  /** HTTP listen address (REST API, file API, metrics). */
  http: listenSchema.default('127.0.0.1:8080'),
  /**
   * Key that encrypts stored secrets (connection keys). Default: `<data>/secret.key`, generated on
   * first start. Losing it makes the stored connection secrets unreadable.
   */
  secretKey: z
    .string()
    .regex(
      /^\s*([0-9a-fA-F]{64}|[A-Za-z0-9+/]{43}=)\s*$/,
      'must be 32 bytes, as 64 hex or 44 base64 characters',
    )
    .optional(),
  /** HTTP connections on which nothing moved this long are closed (a stalled upload is aborted). */
  httpIdleTimeoutSeconds: count(1).default(120),
  /**
   * Behind a load balancer: trust its X-Forwarded-For for the client address (`true`, or the
   * balancer's addresses/ranges, comma-separated). The defender and IP lists see that address.
   */
  trustProxy: z
    .preprocess(
      (v) => (v === 'true' ? true : v === 'false' ? false : v),
      z.union(
        [z.boolean(), z.string().min(1).refine(proxyAddresses, 'must be true, false, or addresses/ranges')],
        {
          error: 'must be true, false, or addresses/ranges',
        },
      ),
    )
    .default(false),
  /** Lifetime of admin and user login cookies. */
  loginTtlSeconds: count(60).default(12 * 3600),
  /** SIGTERM/SIGINT: seconds open transfers get to finish before they are aborted cleanly. */
  shutdownGraceSeconds: count().default(30),
  logLevel: z.enum(logLevels).default('info'),
  /** Failed-login throttling and bans, per address and per user, shared by every node. */
  defender: z
    .strictObject({
      /** Failures within `windowSeconds` that start a ban. */
      maxFailures: count(1).default(5),
      windowSeconds: count(1).default(300),
      banSeconds: count(1).default(900),
    })
    .default({ maxFailures: 5, windowSeconds: 300, banSeconds: 900 }),
  /**
   * Bytes of transfer buffers the whole process may hold: upload parts being filled or sent,
   * download parts, and SFTP/SCP data received but not yet taken (src/s3/buffer-budget.ts). When
   * it is spent, transfers wait and SSH clients get no more window. Unset: `FERRY_BUFFER_BUDGET`
   * (the CLI's variable), else 256 MiB.
   */
  memoryBudgetBytes: z
    .preprocess(
      (v) => (typeof v === 'string' && /^\s*\d+\s*$/.test(v) ? Number(v) : v),
      z
        .number({ error: 'must be a whole number of bytes' })
        .int('must be a whole number of bytes')
        .min(MIN_MEMORY_BUDGET, { error: `must be at least ${MIN_MEMORY_BUDGET} bytes (16 MiB: one part)` }),
    )
    .optional(),
  /** Limits of each session (session layer): open handles and the memory their buffers may take. */
  sessions: z
    .strictObject({
      maxWriteHandles: count(1).default(16),
      maxReadHandles: count(1).default(64),
      /** Bytes of write buffers one session may hold (reorder windows, parts in flight). */
      handleMemoryBytes: count(1).default(512 * 1024 * 1024),
    })
    .default({ maxWriteHandles: 16, maxReadHandles: 64, handleMemoryBytes: 512 * 1024 * 1024 }),
  /**
   * The SFTP/SCP server (SSH). `--sftp` / `FERRY_SFTP` / `sftp: host:port` set `sftp.listen`;
   * `off` disables it.
   */
  sftp: z
    .strictObject({
      listen: z.union([z.literal('off'), listenSchema]).default('127.0.0.1:2022'),
      /** Text shown to SSH clients before they log in (empty: none). */
      banner: z.string().default(''),
      /** A connection not logged in after this long is closed. */
      loginGraceSeconds: count(1).default(120),
      /** A logged-in connection with no channel data this long is closed (keepalives don't count; 0: never). */
      idleTimeoutSeconds: count().default(900),
      /** PROXY protocol v1/v2 from a load balancer: off, optional or required. */
      proxyProtocol: z.enum(['off', 'optional', 'required']).default('off'),
      /** The load balancers' addresses/ranges (comma-separated) whose PROXY header is believed. */
      proxyTrusted: z
        .string()
        .refine((v) => v.trim() === '' || proxyAddresses(v), 'must be addresses/ranges, comma-separated')
        .default(''),
      /** READDIR: entries per NAME reply. */
      readdirBatch: count(1).default(defaultSftpOptions.readdirBatch),
      /** A write handle with no WRITE for this long is aborted, nothing stored (0: never). */
      writeIdleTimeoutSeconds: count().default(defaultSftpOptions.writeIdleTimeoutMs / 1000),
      /** Largest READ answered, bytes. */
      maxReadLength: count(1024).default(defaultSftpOptions.maxReadLength),
    })
    .default(sftpDefaults()),
  /** Event rules (docs/events.md): the delivery worker and its retries. */
  events: z
    .strictObject({
      /** Run a delivery worker on this node (events are matched and queued on every node). */
      worker: z
        .preprocess((v) => (v === 'true' ? true : v === 'false' ? false : v), z.boolean())
        .default(defaultEventsSettings.worker),
      /** How often the worker looks for due deliveries queued by other nodes or retries. */
      pollMilliseconds: count(10).default(defaultEventsSettings.pollMilliseconds),
      /** First retry after this; doubled per attempt up to retryMaxMilliseconds. */
      retryBaseMilliseconds: count(1).default(defaultEventsSettings.retryBaseMilliseconds),
      retryMaxMilliseconds: count(1).default(defaultEventsSettings.retryMaxMilliseconds),
      /** Attempts after which a delivery is dead (`ferry rule deliveries --dead`, `ferry rule retry`). */
      maxAttempts: count(1).default(defaultEventsSettings.maxAttempts),
      /** A claimed delivery is a node's for this long; then another node may take it. */
      leaseSeconds: count(130).default(defaultEventsSettings.leaseSeconds),
      /** Deliveries run at once per node. */
      concurrency: count(1).default(defaultEventsSettings.concurrency),
      /** Delivered rows are kept this long. */
      keepDoneHours: count(1).default(defaultEventsSettings.keepDoneHours),
    })
    .default({ ...defaultEventsSettings }),
  /** The SMTP server of the email action of event rules (no host: email actions fail). */
  smtp: z
    .strictObject({
      host: z.string().default(''),
      port: count(1).default(587),
      /** TLS from the start (465); otherwise STARTTLS when offered. */
      secure: z
        .preprocess((v) => (v === 'true' ? true : v === 'false' ? false : v), z.boolean())
        .default(false),
      requireTls: z
        .preprocess((v) => (v === 'true' ? true : v === 'false' ? false : v), z.boolean())
        .default(false),
      user: z.string().default(''),
      /** Prefer FERRY_SMTP__PASSWORD to the file. */
      password: z.string().default(''),
      from: z.string().default('ferry@localhost'),
    })
    .default({ ...defaultSmtp }),
  /** Sync jobs (docs/jobs.md): this node's scheduler, and the lease of a running run. */
  jobs: z
    .strictObject({
      /** Run the scheduler on this node (triggered runs work either way). */
      enabled: z
        .preprocess((v) => (v === 'true' ? true : v === 'false' ? false : v), z.boolean())
        .default(true),
      /** A running run whose node gave no sign of life for this long is marked failed. */
      leaseSeconds: count(2).default(60),
    })
    .default({ enabled: true, leaseSeconds: 60 }),
});

function sftpDefaults() {
  return {
    listen: '127.0.0.1:2022',
    banner: '',
    loginGraceSeconds: 120,
    idleTimeoutSeconds: 900,
    proxyProtocol: 'off' as const,
    proxyTrusted: '',
    readdirBatch: defaultSftpOptions.readdirBatch,
    writeIdleTimeoutSeconds: defaultSftpOptions.writeIdleTimeoutMs / 1000,
    maxReadLength: defaultSftpOptions.maxReadLength,
  };
}

/** Sections whose plain string value (`--sftp HOST:PORT`, `sftp: off`) is their `listen`. */
const LISTEN_SECTIONS = new Set(['sftp']);
export type ServerSettings = z.infer<typeof serverConfigSchema>;

/** A listen address, parsed. */
export interface ListenAddress {
  host: string;
  port: number;
}

export type DefaultStorage =
  | { type: 'local'; path: string }
  | { type: 's3'; url: string }
  | { type: 'connection'; name: string; prefix: string };

/** The resolved configuration `startServer` runs with. */
export interface ServerConfig {
  /** Absolute data folder. */
  data: string;
  /** The YAML file read, if any. */
  configFile?: string;
  /** SQLite file (absolute) or postgres:// URL. */
  database: string;
  storage: DefaultStorage;
  listen: { http: ListenAddress };
  httpIdleTimeoutSeconds: number;
  trustProxy: boolean | string;
  loginTtlSeconds: number;
  secretKey?: string;
  shutdownGraceSeconds: number;
  /** Bytes of transfer buffers the process may hold (undefined: the process budget's default). */
  memoryBudgetBytes?: number;
  logLevel: ServerSettings['logLevel'];
  defender: ServerSettings['defender'];
  sessions: ServerSettings['sessions'];
  sftp: SftpConfig;
  events: ServerSettings['events'];
  smtp: ServerSettings['smtp'];
  jobs: ServerSettings['jobs'];
}

/** `sftp.*`, resolved: `listen` undefined when `off`. */
export interface SftpConfig {
  listen?: ListenAddress;
  banner: string;
  loginGraceMs: number;
  idleTimeoutMs: number;
  proxyProtocol: 'off' | 'optional' | 'required';
  proxyTrusted: string[];
  options: SftpOptions;
}

/** Flags of `ferry serve` (commander's camelCase names); `config` names the YAML file. */
export type ServerFlags = Partial<Record<keyof ServerSettings | 'config', string | undefined>>;

/** Where one layer's values came from, for messages: `--http`, `FERRY_HTTP`, `ferry.yaml: http`. */
type Layer = { values: Record<string, unknown>; label: (path: string[]) => string };

/**
 * Build the configuration from flags, environment and the YAML file. Throws InvalidArgument
 * naming the key and its source (`ferry.yaml: http: must be host:port`, `FERRY_HTTP: …`,
 * `--http: …`); unknown keys in the file or under a known `FERRY_` prefix are errors.
 */
export function loadServerConfig(
  flags: ServerFlags = {},
  env: NodeJS.ProcessEnv = process.env,
  cwd = process.cwd(),
): ServerConfig {
  const flagLayer = fromFlags(flags);
  const envLayer = fromEnv(env);
  // The file is found before it is read: --config / FERRY_CONFIG, else <data>/ferry.yaml.
  const dataHint = (flagLayer.values.data ?? envLayer.values.data ?? './ferry-data') as string;
  const explicit = flags.config ?? env.FERRY_CONFIG;
  const file = explicit
    ? resolve(cwd, explicit)
    : existsSync(join(resolve(cwd, dataHint), 'ferry.yaml'))
      ? join(resolve(cwd, dataHint), 'ferry.yaml')
      : undefined;
  const layers = [file ? fromFile(file, explicit ? explicit : file) : undefined, envLayer, flagLayer].filter(
    (l): l is Layer => l !== undefined,
  );
  const merged: Record<string, unknown> = {};
  for (const layer of layers) deepMerge(merged, layer.values);
  const parsed = serverConfigSchema.safeParse(merged);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => {
      const keys = issue.code === 'unrecognized_keys' ? issue.keys : [undefined];
      return keys
        .map((extra) => {
          const path = [...issue.path.map(String), ...(extra ? [extra] : [])];
          const source = [...layers].reverse().find((l) => hasPath(l.values, path));
          const where = source ? source.label(path) : path.join('.');
          return extra ? `${where}: unknown setting` : `${where}: ${issue.message}`;
        })
        .join('\n');
    });
    throw new StorageError('InvalidArgument', `invalid configuration:\n  ${lines.join('\n  ')}`);
  }
  const s = parsed.data;
  const data = resolve(cwd, s.data);
  return {
    data,
    configFile: file,
    database: s.database
      ? /^postgres(ql)?:\/\//i.test(s.database)
        ? s.database
        : resolve(cwd, s.database.replace(/^sqlite:(\/\/)?/i, ''))
      : join(data, 'ferry.db'),
    storage: defaultStorage(s.storage, data, cwd),
    listen: { http: parseListen(s.http) },
    httpIdleTimeoutSeconds: s.httpIdleTimeoutSeconds,
    trustProxy: s.trustProxy,
    loginTtlSeconds: s.loginTtlSeconds,
    secretKey: s.secretKey,
    shutdownGraceSeconds: s.shutdownGraceSeconds,
    memoryBudgetBytes: s.memoryBudgetBytes,
    logLevel: s.logLevel,
    defender: s.defender,
    sessions: s.sessions,
    sftp: sftpConfig(s.sftp),
    events: s.events,
    smtp: s.smtp,
    jobs: s.jobs,
  };
}

function sftpConfig(s: ServerSettings['sftp']): SftpConfig {
  const trusted = s.proxyTrusted
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean);
  if (s.proxyProtocol !== 'off' && trusted.length === 0)
    throw new StorageError(
      'InvalidArgument',
      'invalid configuration:\n  sftp.proxyTrusted: must name the load balancers (addresses/ranges) when sftp.proxyProtocol is not off',
    );
  return {
    listen: s.listen === 'off' ? undefined : parseListen(s.listen),
    banner: s.banner,
    loginGraceMs: s.loginGraceSeconds * 1000,
    idleTimeoutMs: s.idleTimeoutSeconds * 1000,
    proxyProtocol: s.proxyProtocol,
    proxyTrusted: trusted,
    options: {
      readdirBatch: s.readdirBatch,
      writeIdleTimeoutMs: s.writeIdleTimeoutSeconds * 1000,
      maxReadLength: s.maxReadLength,
    },
  };
}

/** `--storage` / `storage:`: local folder, s3:// URL, or `NAME[:prefix]` of a named connection. */
function defaultStorage(value: string | undefined, data: string, cwd: string): DefaultStorage {
  if (!value) return { type: 'local', path: join(data, 'files') };
  if (/^s3(\+http)?:\/\//i.test(value)) return { type: 's3', url: value };
  if (isAbsolute(value) || value.startsWith('./') || value.startsWith('../') || value === '.') {
    return { type: 'local', path: resolve(cwd, value) };
  }
  const m = /^([a-z0-9][a-z0-9._-]{0,63})(?::(.*))?$/.exec(value);
  if (!m) {
    throw new StorageError(
      'InvalidArgument',
      `invalid configuration: storage: "${value}" is neither a folder (absolute or ./…), an s3:// URL, nor NAME[:prefix] of a connection`,
    );
  }
  return { type: 'connection', name: m[1] as string, prefix: (m[2] ?? '').replace(/^\/+/, '') };
}

export function parseListen(value: string): ListenAddress {
  const colon = value.lastIndexOf(':');
  return { host: value.slice(0, colon).replace(/^\[|\]$/g, ''), port: Number(value.slice(colon + 1)) };
}

/** `someKey` → `--some-key`. */
const flagName = (key: string) => `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
/** `someKey` → `SOME_KEY`. */
const envName = (key: string) => key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase();
/** `SOME_KEY` → `someKey`. */
const keyOfEnv = (name: string) =>
  name.toLowerCase().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

function fromFlags(flags: ServerFlags): Layer {
  const values: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(flags)) {
    if (key === 'config' || value === undefined) continue;
    values[key] = LISTEN_SECTIONS.has(key) ? { listen: value } : value;
  }
  return {
    values,
    label: (path) =>
      LISTEN_SECTIONS.has(path[0] as string) && path[1] === 'listen'
        ? flagName(path[0] as string)
        : flagName(path[0] as string) + rest(path.slice(1)),
  };
}

function fromEnv(env: NodeJS.ProcessEnv): Layer {
  const known = new Set(Object.keys(serverConfigSchema.shape));
  const values: Record<string, unknown> = {};
  /** Sections set by their short form (`FERRY_SFTP`), for naming it in messages. */
  const shortForms = new Set<string>();
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith('FERRY_') || value === undefined) continue;
    const path = name.slice('FERRY_'.length).split('__').map(keyOfEnv);
    // Other FERRY_ variables (FERRY_CONFIG, FERRY_ADMIN_PASSWORD, test settings) are not settings.
    if (!known.has(path[0] as string)) continue;
    if (path.length === 1 && LISTEN_SECTIONS.has(path[0] as string)) {
      shortForms.add(path[0] as string);
      path.push('listen');
    }
    setPath(values, path, value);
  }
  return {
    values,
    label: (path) =>
      path.length === 2 && path[1] === 'listen' && shortForms.has(path[0] as string)
        ? `FERRY_${envName(path[0] as string)}`
        : `FERRY_${path.map(envName).join('__')}`,
  };
}

function fromFile(file: string, shown: string): Layer {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new StorageError(
      'InvalidArgument',
      `cannot read the configuration file ${shown}: ${(err as Error).message}`,
    );
  }
  let values: unknown;
  try {
    values = parseYaml(text) ?? {};
  } catch (err) {
    throw new StorageError('InvalidArgument', `${shown}: not valid YAML: ${(err as Error).message}`);
  }
  if (typeof values !== 'object' || Array.isArray(values) || values === null) {
    throw new StorageError('InvalidArgument', `${shown}: must be a mapping of settings (key: value)`);
  }
  const mapping = values as Record<string, unknown>;
  for (const key of LISTEN_SECTIONS)
    if (typeof mapping[key] === 'string') mapping[key] = { listen: mapping[key] };
  return { values: values as Record<string, unknown>, label: (path) => `${shown}: ${path.join('.')}` };
}

const rest = (path: string[]) => (path.length ? ` ${path.join('.')}` : '');

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function deepMerge(into: Record<string, unknown>, from: Record<string, unknown>): void {
  for (const [k, v] of Object.entries(from)) {
    const cur = into[k];
    if (isPlainObject(v) && isPlainObject(cur)) deepMerge(cur, v);
    else into[k] = isPlainObject(v) ? structuredClone(v) : v;
  }
}

function setPath(obj: Record<string, unknown>, path: string[], value: unknown): void {
  let cur = obj;
  for (const k of path.slice(0, -1)) {
    if (!isPlainObject(cur[k])) cur[k] = {};
    cur = cur[k] as Record<string, unknown>;
  }
  cur[path[path.length - 1] as string] = value;
}

function hasPath(obj: Record<string, unknown>, path: string[]): boolean {
  let cur: unknown = obj;
  for (const k of path) {
    if (!isPlainObject(cur) || !(k in cur)) return false;
    cur = cur[k];
  }
  return true;
}

/** The reference table of docs/server.md: key, variable, flag, default, description. */
export function configReference(): { key: string; env: string; default: string }[] {
  const out: { key: string; env: string; default: string }[] = [];
  const defaults = serverConfigSchema.parse({});
  const walk = (shape: Record<string, z.ZodType>, prefix: string[], dflt: Record<string, unknown>) => {
    for (const [key, schema] of Object.entries(shape)) {
      const path = [...prefix, key];
      const inner = (schema as unknown as { def: { innerType?: z.ZodType } }).def.innerType;
      const obj = inner instanceof z.ZodObject ? inner : schema instanceof z.ZodObject ? schema : undefined;
      if (obj) {
        walk(obj.shape as Record<string, z.ZodType>, path, (dflt[key] ?? {}) as Record<string, unknown>);
        continue;
      }
      out.push({
        key: path.join('.'),
        env: `FERRY_${path.map(envName).join('__')}`,
        default: dflt[key] === undefined ? '' : String(dflt[key]),
      });
    }
  };
  walk(
    serverConfigSchema.shape as unknown as Record<string, z.ZodType>,
    [],
    defaults as Record<string, unknown>,
  );
  return out;
}
