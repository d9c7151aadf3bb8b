import ipaddr from 'ipaddr.js';
import { z } from 'zod';
import { defaultEventsSettings } from '../events/settings.js';
import { defaultSftpOptions, SSH_CIPHERS } from '../protocols/sftp/types.js';

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

/** Numbers and booleans from the environment arrive as strings: digits become a number. */
const digits = (v: unknown) => (typeof v === 'string' && /^\s*\d+\s*$/.test(v) ? Number(v) : v);
/** … and `true`/`false` a boolean. */
const trueFalse = (v: unknown) => (v === 'true' ? true : v === 'false' ? false : v);

/** A whole number of at least `min`, from the file or a variable. */
const count = (min = 0) =>
  z.preprocess(digits, z.number({ error: 'must be a whole number' }).int('must be a whole number').min(min));

/** `true`/`false`, from the file or a variable. */
const bool = () => z.preprocess(trueFalse, z.boolean());

/** The smallest memory budget: one default part (16 MiB) must fit. */
const MIN_MEMORY_BUDGET = 16 * 1024 * 1024;

export const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export const serverConfigSchema = z.strictObject({
  /** The data folder: database, secret key, local files, host keys. Created (0700) on first start. */
  data: z.string().min(1).default('./ferry-data'),
  /** `postgres://user:pass@host/db` (several nodes), or a SQLite file; default `<data>/ferry.db`. */
  database: z.string().min(1).optional(),
  /** PostgreSQL: opening a connection (or waiting for a free one) fails after this (0: no bound). */
  databaseConnectTimeoutSeconds: count().default(10),
  /**
   * PostgreSQL: a query unanswered this long fails and its connection is dropped (0: no bound),
   * so a store gone silent holds no request, job run or stop for long. Migrations are exempt.
   */
  databaseQueryTimeoutSeconds: count().default(60),
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
      trueFalse,
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
    .prefault({}),
  /**
   * Bytes of transfer buffers the whole process may hold: upload parts being filled or sent,
   * download parts, and SFTP/SCP data received but not yet taken (src/s3/buffer-budget.ts). When
   * it is spent, transfers wait and SSH clients get no more window. Unset: `FERRY_BUFFER_BUDGET`
   * (the CLI's variable), else 256 MiB.
   */
  memoryBudgetBytes: z
    .preprocess(
      digits,
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
    .prefault({}),
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
      /**
       * The ciphers offered, comma-separated, in order (empty: all of SSH_CIPHERS, chacha20-poly1305
       * among them). A client uses its own first choice the server offers.
       */
      ciphers: z
        .string()
        .superRefine((v, ctx) => {
          if (v.trim() === '') return;
          const names = v.split(',').map((c) => c.trim());
          const known: readonly string[] = SSH_CIPHERS;
          const bad = names.filter((c, i) => !known.includes(c) || names.indexOf(c) !== i);
          if (bad.length > 0 || names.length === 0)
            ctx.addIssue({
              code: 'custom',
              message: `unknown or repeated cipher "${bad.join('", "')}": each must be one of ${SSH_CIPHERS.join(', ')}, once`,
            });
        })
        .default(''),
      /** READDIR: entries per NAME reply. */
      readdirBatch: count(1).default(defaultSftpOptions.readdirBatch),
      /** A write handle with no WRITE for this long is aborted, nothing stored (0: never). */
      writeIdleTimeoutSeconds: count().default(defaultSftpOptions.writeIdleTimeoutMs / 1000),
      /** Largest READ answered, bytes. */
      maxReadLength: count(1024).default(defaultSftpOptions.maxReadLength),
    })
    .prefault({}),
  /** Event rules (docs/events.md): the delivery worker and its retries. */
  events: z
    .strictObject({
      /** Run a delivery worker on this node (events are matched and queued on every node). */
      worker: bool().default(defaultEventsSettings.worker),
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
    .prefault({}),
  /** The SMTP server of the email action of event rules (no host: email actions fail). */
  smtp: z
    .strictObject({
      host: z.string().default(''),
      port: count(1).default(587),
      /** TLS from the start (465); otherwise STARTTLS when offered. */
      secure: bool().default(false),
      requireTls: bool().default(false),
      user: z.string().default(''),
      /** Prefer FERRY_SMTP__PASSWORD to the file. */
      password: z.string().default(''),
      from: z.string().default('ferry@localhost'),
    })
    .prefault({}),
  /** Sync jobs (docs/jobs.md): this node's scheduler, and the lease of a running run. */
  jobs: z
    .strictObject({
      /** Run the scheduler on this node (triggered runs work either way). */
      enabled: bool().default(true),
      /** A running run whose node gave no sign of life for this long is marked failed. */
      leaseSeconds: count(2).default(60),
    })
    .prefault({}),
});

export type ServerSettings = z.infer<typeof serverConfigSchema>;

/** `someKey` → `SOME_KEY` (a key's part of its `FERRY_*` variable). */
export const envName = (key: string) => key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase();

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
