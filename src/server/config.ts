import { existsSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import type { StoreTimeouts } from '../db/pg-bounds.js';
import type { SftpOptions, SshCipher } from '../protocols/sftp/types.js';
import { StorageError } from '../storage/errors.js';
import { deepMerge, fromEnv, fromFile, fromFlags, hasPath, type Layer } from './config-layers.js';
import { type ServerSettings, serverConfigSchema } from './config-schema.js';

/**
 * The configuration `ferry serve` runs with. Every setting is declared once in config-schema.ts
 * (defaults, validation, YAML keys, `FERRY_*` variables, docs/server.md's table); config-layers.ts
 * reads the flags, the environment and the YAML file; loadServerConfig here merges them
 * (flags > environment > YAML file > defaults), validates, and resolves paths and addresses.
 */

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
  /** PostgreSQL's connect and query bounds (databaseConnectTimeoutSeconds, databaseQueryTimeoutSeconds). */
  databaseTimeouts: StoreTimeouts;
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
  /** The ciphers offered, in order; undefined: the server's default (all it supports). */
  ciphers?: SshCipher[];
  options: SftpOptions;
}

/** Flags of `ferry serve` (commander's camelCase names); `config` names the YAML file. */
export type ServerFlags = Partial<Record<keyof ServerSettings | 'config', string | undefined>>;

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
    databaseTimeouts: {
      connectTimeoutMs: s.databaseConnectTimeoutSeconds * 1000,
      queryTimeoutMs: s.databaseQueryTimeoutSeconds * 1000,
    },
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
    // Each name was checked against SSH_CIPHERS by the schema.
    ciphers: s.ciphers.trim() === '' ? undefined : s.ciphers.split(',').map((c) => c.trim() as SshCipher),
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
