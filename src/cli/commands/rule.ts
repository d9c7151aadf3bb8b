import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { parse as parseYaml } from 'yaml';
import type { DeliveryStatus, DeliveryView, RuleView } from '../../events/model.js';
import { storageTargetFrom } from '../../server/locations.js';
import { StorageError } from '../../storage/errors.js';
import {
  adminGroup,
  collect,
  intOption,
  printList,
  printView,
  readStdinSecret,
  withAdmin,
} from '../admin/admin-command.js';
import type { CliContext } from '../context.js';

interface RuleFlags {
  file?: string;
  on?: string;
  user?: string[];
  group?: string[];
  path?: string[];
  minSize?: number;
  maxSize?: number;
  result?: string;
  disabled?: boolean;
  webhook?: string;
  webhookSecretStdin?: boolean;
  header?: string[];
  timeout?: number;
  command?: string;
  cwd?: string;
  copyTo?: string;
  moveTo?: string;
  toPath?: string;
  email?: string[];
  subject?: string;
}

/**
 * `ferry rule add|list|show|set|rm|deliveries|retry`: event rules (docs/events.md). A rule is
 * given by flags (one action of each kind, run in the order webhook, command, copy/move, email)
 * or whole by `--file rule.yaml` (the API's JSON/YAML form, any actions in any order). A webhook
 * secret is read from standard input and never shown again.
 */
export function registerRule(program: Command, ctx: () => CliContext): void {
  const rule = adminGroup(
    program,
    'rule',
    'event rules (on upload, delete … → webhook, command, copy, email): add, list, show, set, rm, deliveries, retry',
  );

  rule
    .command('add')
    .argument('<name>')
    .option('--file <file>', 'the whole rule as YAML or JSON (the API form); flags below are added to it')
    .option(
      '--on <kinds>',
      'event kinds, comma-separated: upload,download,delete,rename,mkdir,rmdir,copy,login …',
    )
    .option('--user <name>', 'only this user (repeatable)', collect)
    .option('--group <name>', 'only members of this group (repeatable)', collect)
    .option('--path <glob>', 'only paths matching this glob, e.g. "/in/**/*.csv" (repeatable)', collect)
    .option('--min-size <bytes>', 'only files of at least this size', intOption('--min-size'))
    .option('--max-size <bytes>', 'only files of at most this size', intOption('--max-size'))
    .option('--result <ok|failed|any>', 'which outcomes (default ok)')
    .option('--disabled', 'create it disabled')
    .option('--webhook <url>', 'POST the event as JSON to this URL')
    .option('--webhook-secret-stdin', 'sign webhooks with a secret read from standard input')
    .option('--header <name:value>', 'extra webhook header (repeatable)', collect)
    .option('--timeout <seconds>', 'timeout of the webhook or command', intOption('--timeout'))
    .option('--command <argv>', 'run a program: a JSON array, or words split at spaces (no shell)')
    .option('--cwd <dir>', 'working folder of the command')
    .option('--copy-to <target>', 'copy the file to s3://bucket/prefix, CONNECTION:prefix or a folder')
    .option('--move-to <target>', 'move the file there')
    .option('--to-path <template>', 'path under the copy/move target (default {username}{path})')
    .option('--email <address>', 'send an email to this address (repeatable)', collect)
    .option('--subject <template>', 'email subject (default "[ferry] {kind} {path} by {username}")')
    .description('create an event rule')
    .action(async (name: string, opts: RuleFlags, cmd: Command) => {
      const c = ctx();
      await withAdmin(cmd, async (api, g) => {
        const base = opts.file ? readRuleFile(opts.file) : {};
        const flags = await ruleFromFlags(opts, api.connections, c);
        const actions = [...((base.actions as unknown[]) ?? []), ...flags.actions];
        const filters = { ...((base.filters as object) ?? {}), ...flags.filters };
        const input = {
          ...base,
          name,
          ...(flags.on ? { on: flags.on } : {}),
          ...(Object.keys(filters).length ? { filters } : {}),
          ...(opts.disabled ? { enabled: false } : {}),
          actions,
        };
        const view = await api.rules.create(input as Parameters<typeof api.rules.create>[0]);
        if (g.json) printView(c, view, true);
        else c.out(`created rule ${view.name}: on ${view.on.join(',')} → ${actionsText(view)}`);
      });
    });

  rule
    .command('list')
    .description('list event rules')
    .action(async (_opts: unknown, cmd: Command) => {
      const c = ctx();
      await withAdmin(cmd, async (api, g) =>
        printList<RuleView>(
          c,
          await api.rules.list(),
          [
            ['NAME', (v) => v.name],
            ['ENABLED', (v) => (v.enabled ? 'yes' : 'no')],
            ['ON', (v) => v.on],
            ['ACTIONS', (v) => actionsText(v)],
          ],
          g.json,
        ),
      );
    });

  rule
    .command('show')
    .argument('<name>')
    .description('a rule, without its secrets')
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      const c = ctx();
      await withAdmin(cmd, async (api, g) => printView(c, await api.rules.get(name), g.json));
    });

  rule
    .command('set')
    .argument('<name>')
    .option('--enabled <yes|no>', 'enable or disable the rule')
    .option('--file <file>', 'fields to replace, as YAML or JSON (on, filters, actions, enabled)')
    .description('change a rule')
    .action(async (name: string, opts: { enabled?: string; file?: string }, cmd: Command) => {
      const c = ctx();
      await withAdmin(cmd, async (api, g) => {
        const patch: Record<string, unknown> = opts.file ? readRuleFile(opts.file) : {};
        if (opts.enabled !== undefined) {
          if (!/^(yes|no|true|false)$/.test(opts.enabled))
            throw new StorageError('InvalidArgument', '--enabled: yes or no');
          patch.enabled = /^(yes|true)$/.test(opts.enabled);
        }
        if (Object.keys(patch).length === 0)
          throw new StorageError('InvalidArgument', 'nothing to change (see --help)');
        const view = await api.rules.update(name, patch);
        if (g.json) printView(c, view, true);
        else c.out(`changed rule ${view.name}`);
      });
    });

  rule
    .command('rm')
    .argument('<name>')
    .description('remove a rule (its pending deliveries end as dead)')
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      const c = ctx();
      await withAdmin(cmd, async (api, g) => {
        await api.rules.remove(name);
        c.out(g.json ? JSON.stringify({ removed: name }) : `removed rule ${name}`);
      });
    });

  rule
    .command('deliveries')
    .option('--dead', 'only dead deliveries (out of attempts)')
    .option('--status <status>', 'only pending, running, done or dead ones')
    .option('--rule <name>', "only this rule's")
    .option('--limit <n>', 'at most this many, newest first (default 100)', intOption('--limit'))
    .description('list deliveries of event rules, newest first')
    .action(
      async (opts: { dead?: boolean; status?: string; rule?: string; limit?: number }, cmd: Command) => {
        const c = ctx();
        await withAdmin(cmd, async (api, g) => {
          if (opts.dead && opts.status && opts.status !== 'dead')
            throw new StorageError('InvalidArgument', '--dead and --status: give one of them');
          const status = opts.dead ? 'dead' : opts.status;
          if (status && !['pending', 'running', 'done', 'dead'].includes(status))
            throw new StorageError('InvalidArgument', '--status: pending, running, done or dead');
          const rows = await api.rules.deliveries({
            status: status as DeliveryStatus | undefined,
            rule: opts.rule,
            limit: opts.limit ?? 100,
          });
          printList<DeliveryView>(
            c,
            rows,
            [
              ['ID', (d) => d.id],
              ['RULE', (d) => `${d.rule}#${d.action} ${d.actionType}`],
              [
                'EVENT',
                (d) =>
                  `${d.event.kind} ${d.event.username} ${d.event.targetPath ?? d.event.path ?? ''}`.trim(),
              ],
              ['STATUS', (d) => d.status],
              ['ATTEMPTS', (d) => d.attempts],
              ['NEXT', (d) => (d.status === 'pending' ? d.nextAttemptAt : '')],
              ['LAST ERROR', (d) => d.lastError],
            ],
            g.json,
          );
        });
      },
    );

  rule
    .command('retry')
    .argument('<id>', 'a delivery id (ferry rule deliveries --dead)')
    .description('queue a dead delivery again, attempts from zero')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const c = ctx();
      await withAdmin(cmd, async (api, g) => {
        const d = await api.rules.retry(id);
        if (g.json) printView(c, d, true);
        else c.out(`queued delivery ${d.id} again`);
      });
    });
}

function actionsText(v: RuleView): string {
  return v.actions.map((a) => a.type).join(',');
}

function readRuleFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new StorageError('InvalidArgument', `--file: cannot read ${file}: ${(err as Error).message}`);
  }
  let value: unknown;
  try {
    value = parseYaml(text);
  } catch (err) {
    throw new StorageError(
      'InvalidArgument',
      `--file: ${file} is not YAML or JSON: ${(err as Error).message}`,
    );
  }
  if (!value || typeof value !== 'object' || Array.isArray(value))
    throw new StorageError('InvalidArgument', `--file: ${file} must hold one rule (a mapping)`);
  return value as Record<string, unknown>;
}

async function ruleFromFlags(
  opts: RuleFlags,
  connections: Parameters<typeof storageTargetFrom>[1],
  c: CliContext,
): Promise<{ on?: string[]; filters: Record<string, unknown>; actions: Record<string, unknown>[] }> {
  const filters: Record<string, unknown> = {};
  if (opts.user) filters.users = opts.user;
  if (opts.group) filters.groups = opts.group;
  if (opts.path) filters.paths = opts.path;
  if (opts.minSize !== undefined) filters.minSize = opts.minSize;
  if (opts.maxSize !== undefined) filters.maxSize = opts.maxSize;
  if (opts.result) filters.result = opts.result;
  const actions: Record<string, unknown>[] = [];
  const timeout = opts.timeout === undefined ? {} : { timeoutSeconds: opts.timeout };
  if (opts.webhookSecretStdin && !opts.webhook)
    throw new StorageError('InvalidArgument', '--webhook-secret-stdin: needs --webhook');
  if (opts.webhook) {
    const headers: Record<string, string> = {};
    for (const h of opts.header ?? []) {
      const i = h.indexOf(':');
      if (i <= 0) throw new StorageError('InvalidArgument', `--header: must be name:value, got ${h}`);
      headers[h.slice(0, i).trim()] = h.slice(i + 1).trim();
    }
    actions.push({
      type: 'webhook',
      url: opts.webhook,
      ...(opts.webhookSecretStdin ? { secret: await readStdinSecret('--webhook-secret-stdin') } : {}),
      ...(Object.keys(headers).length ? { headers } : {}),
      ...timeout,
    });
  }
  if (opts.command) {
    let argv: unknown;
    if (opts.command.trim().startsWith('[')) {
      try {
        argv = JSON.parse(opts.command);
      } catch {
        throw new StorageError('InvalidArgument', '--command: not a JSON array of strings');
      }
    } else argv = opts.command.trim().split(/\s+/);
    actions.push({ type: 'command', argv, ...(opts.cwd ? { cwd: opts.cwd } : {}), ...timeout });
  }
  if (opts.copyTo && opts.moveTo)
    throw new StorageError('InvalidArgument', '--copy-to and --move-to: give one');
  const dest = opts.copyTo ?? opts.moveTo;
  if (dest) {
    const flag = opts.copyTo ? '--copy-to' : '--move-to';
    const t = await storageTargetFrom(dest, connections, flag);
    if (t.note) c.warn(t.note);
    actions.push({
      type: opts.copyTo ? 'copy' : 'move',
      to: t.target,
      ...(opts.toPath ? { path: opts.toPath } : {}),
    });
  }
  if (opts.email)
    actions.push({ type: 'email', to: opts.email, ...(opts.subject ? { subject: opts.subject } : {}) });
  return {
    on: opts.on
      ?.split(',')
      .map((k) => k.trim())
      .filter(Boolean),
    filters,
    actions,
  };
}
