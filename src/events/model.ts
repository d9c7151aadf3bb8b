import { z } from 'zod';
import { nameSchema, storageTargetSchema } from '../accounts/model.js';
import type { SessionEvent } from '../session/types.js';

/**
 * Event rules (issue 11 part 4, SFTPGo's event manager as the anchor): on some session events,
 * filtered by user, group, path glob, size and result, run actions in order — a signed webhook,
 * a command, a copy or move of the file to another location, an email. The schemas here validate
 * the admin API's bodies (a 400 naming the field) and the store's rows.
 */

/** Event kinds a rule may name: every SessionEvent kind but `list` (too many, too little to say). */
export const ruleEventKinds = [
  'upload',
  'download',
  'delete',
  'rename',
  'mkdir',
  'rmdir',
  'copy',
  'set-times',
  'login',
  'login-failed',
  'logout',
] as const satisfies readonly SessionEvent['kind'][];
export type RuleEventKind = (typeof ruleEventKinds)[number];

/** Kinds after which a file is there to copy or move (at `targetPath` for rename and copy). */
export const fileKinds: ReadonlySet<string> = new Set(['upload', 'download', 'rename', 'copy']);

const headerName = z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, 'must be an HTTP header name');
const seconds = (max: number, dflt: number) =>
  z.number().int('must be a whole number').min(1).max(max).default(dflt);

export const webhookActionSchema = z.object({
  type: z.literal('webhook'),
  url: z
    .string()
    .url('must be an http:// or https:// URL')
    .regex(/^https?:\/\//i, 'must be an http:// or https:// URL')
    // A user and password in the URL would be shown in every view and audit entry, and fetch
    // refuses such a URL anyway: a token goes in `headers` (or the query string) instead.
    .refine((u) => {
      try {
        const url = new URL(u);
        return url.username === '' && url.password === '';
      } catch {
        return true;
      }
    }, 'must not hold a user or password: put the credential in headers (Authorization)'),
  /** HMAC-SHA256 key: the request carries `X-Ferry-Signature: sha256=HEX` of `timestamp.body`. */
  secret: z.string().min(1).max(1024).optional(),
  headers: z.record(headerName, z.string().max(4096)).default({}),
  timeoutSeconds: seconds(120, 10),
});

export const commandActionSchema = z.object({
  type: z.literal('command'),
  /** Program and arguments, no shell; the program by absolute path. */
  argv: z
    .array(z.string().max(4096))
    .min(1, 'needs at least the program')
    .refine((a) => (a[0] ?? '').startsWith('/'), 'the program (argv[0]) must be an absolute path'),
  /** Added to the environment (besides PATH and the FERRY_EVENT_* variables). */
  env: z
    .record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a variable name'), z.string())
    .default({}),
  timeoutSeconds: seconds(120, 30),
  /** Working folder (absolute); default: the server's. */
  cwd: z.string().regex(/^\//, 'must be an absolute folder').optional(),
});

export const copyActionSchema = z.object({
  type: z.enum(['copy', 'move']),
  /** Where to: a named connection and prefix, or a local folder. */
  to: storageTargetSchema,
  /** The path under `to`; placeholders as in templates (`{username}`, `{path}`, `{name}` …). */
  path: z.string().min(1).max(1024).default('{username}{path}'),
});

export const emailActionSchema = z.object({
  type: z.literal('email'),
  to: z.array(z.email('must be an email address')).min(1, 'needs at least one address'),
  subject: z.string().max(998).default('[ferry] {kind} {path} by {username}'),
  /** Default: the event's fields, one a line. */
  body: z.string().max(100_000).optional(),
});

export const actionSchema = z.discriminatedUnion('type', [
  webhookActionSchema,
  commandActionSchema,
  copyActionSchema,
  emailActionSchema,
]);
export type RuleAction = z.infer<typeof actionSchema>;

export const filtersSchema = z.object({
  /** Only these users (any when empty). */
  users: z.array(nameSchema).default([]),
  /** Only members of one of these groups (any when empty). */
  groups: z.array(nameSchema).default([]),
  /** Virtual path globs (picomatch); a rename or copy matches on either path. Any when empty. */
  paths: z.array(z.string().min(1).max(1024)).default([]),
  /** Bytes of the event; an event without a size (mkdir, login) fails a size filter. */
  minSize: z.number().int().min(0).optional(),
  maxSize: z.number().int().min(0).optional(),
  /** `ok` (default), `failed` (any other result) or `any`. */
  result: z.enum(['ok', 'failed', 'any']).default('ok'),
});
export type RuleFilters = z.infer<typeof filtersSchema>;

const ruleBody = z.object({
  enabled: z.boolean().default(true),
  on: z.array(z.enum(ruleEventKinds)).min(1, 'name at least one event kind'),
  filters: filtersSchema.default({ users: [], groups: [], paths: [], result: 'ok' }),
  actions: z.array(actionSchema).min(1, 'needs at least one action').max(20),
});

/** Cross-field checks, each naming its field. */
function checkRule(
  r: { on?: string[]; filters?: RuleFilters; actions?: RuleAction[] },
  ctx: z.RefinementCtx,
): void {
  const f = r.filters;
  if (f?.minSize !== undefined && f.maxSize !== undefined && f.minSize > f.maxSize)
    ctx.addIssue({ code: 'custom', path: ['filters', 'maxSize'], message: 'must be at least minSize' });
  r.actions?.forEach((a, i) => {
    if ((a.type === 'copy' || a.type === 'move') && r.on?.some((k) => !fileKinds.has(k)))
      ctx.addIssue({
        code: 'custom',
        path: ['actions', i, 'type'],
        message: `${a.type} needs a file: the rule may only be on upload, download, rename or copy`,
      });
  });
}

export const ruleInputSchema = ruleBody.extend({ name: nameSchema }).superRefine(checkRule);
export type RuleInput = z.input<typeof ruleInputSchema>;
/** A change: the fields sent replace the rule's (actions as a whole list). */
export const rulePatchSchema = ruleBody.partial().superRefine(checkRule);
export type RulePatch = z.input<typeof rulePatchSchema>;

/** An action as shown: a webhook's secret never, only whether one is set. */
export const actionViewSchema = z.discriminatedUnion('type', [
  webhookActionSchema.omit({ secret: true }).extend({ secretSet: z.boolean() }),
  commandActionSchema,
  copyActionSchema,
  emailActionSchema,
]);
export const ruleViewSchema = z.object({
  name: nameSchema,
  enabled: z.boolean(),
  on: z.array(z.enum(ruleEventKinds)),
  filters: filtersSchema,
  actions: z.array(actionViewSchema),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type RuleView = z.infer<typeof ruleViewSchema>;

export const deliveryStatuses = ['pending', 'running', 'done', 'dead'] as const;
export type DeliveryStatus = (typeof deliveryStatuses)[number];

/** The event as a delivery carries it (no login-failed reason: that is for the audit log only). */
export const deliveredEventSchema = z.object({
  kind: z.string(),
  username: z.string(),
  protocol: z.string(),
  remote: z.string(),
  sessionId: z.string().optional(),
  path: z.string().optional(),
  targetPath: z.string().optional(),
  bytes: z.number().optional(),
  durationMs: z.number(),
  result: z.string(),
  at: z.string(),
  /** The node whose session layer saw it. */
  node: z.string(),
});
export type DeliveredEvent = z.infer<typeof deliveredEventSchema>;

export const deliveryViewSchema = z.object({
  id: z.string(),
  rule: z.string(),
  action: z.number().int(),
  actionType: z.string(),
  event: deliveredEventSchema,
  status: z.enum(deliveryStatuses),
  attempts: z.number().int(),
  nextAttemptAt: z.string(),
  lastError: z.string().optional(),
  node: z.string().optional(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type DeliveryView = z.infer<typeof deliveryViewSchema>;

export function deliveredEvent(e: SessionEvent, node: string): DeliveredEvent {
  return {
    kind: e.kind,
    username: e.username,
    protocol: e.protocol,
    remote: e.remote,
    ...(e.sessionId === undefined ? {} : { sessionId: e.sessionId }),
    ...(e.path === undefined ? {} : { path: e.path }),
    ...(e.targetPath === undefined ? {} : { targetPath: e.targetPath }),
    ...(e.bytes === undefined ? {} : { bytes: e.bytes }),
    durationMs: e.durationMs,
    result: e.result,
    at: e.at.toISOString(),
    node,
  };
}
