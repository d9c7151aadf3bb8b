import type { Command } from 'commander';
import { stringify as toYaml } from 'yaml';
import { StorageError } from '../../storage/errors.js';
import type { CliContext } from '../context.js';
import type { AdminApi } from './admin-api.js';

/** The flags every admin command group takes: where the accounts are, and how to print. */
export interface AdminOptions {
  data?: string;
  config?: string;
  database?: string;
  server?: string;
  apiKey?: string;
  json?: boolean;
}

/**
 * `ferry <name> …`: a command group of the admin CLI. Its flags (`--data`, `--server`,
 * `--api-key`, `--json` …) may stand before or after the subcommand.
 */
export function adminGroup(program: Command, name: string, description: string): Command {
  return program
    .command(name)
    .description(description)
    .option('--data <dir>', 'the data folder of the server (default $FERRY_DATA, else ./ferry-data)')
    .option('--config <file>', 'the server configuration file (default <data>/ferry.yaml)')
    .option(
      '--database <url>',
      'the store: a postgres:// URL or SQLite file (default from the configuration)',
    )
    .option('--server <url>', 'a running server to manage through its REST API (default $FERRY_SERVER)')
    .option('--api-key <key>', 'an admin API key for --server (default $FERRY_API_KEY)')
    .option('--json', 'print JSON');
}

/**
 * Run `fn` on the admin API the command's flags name, closing it afterwards. `warn`: where what
 * goes wrong in this process meanwhile is told (a job run's heartbeats).
 */
export async function withAdmin<T>(
  command: Command,
  fn: (api: AdminApi, opts: AdminOptions) => Promise<T>,
  warn?: (line: string) => void,
): Promise<T> {
  const opts = command.optsWithGlobals() as AdminOptions;
  // Loaded here: the store drivers are for admin commands only.
  const { openAdminApi } = await import('./open-admin-api.js');
  const api = await openAdminApi(opts, process.env, warn);
  try {
    return await fn(api, opts);
  } finally {
    await api.close();
  }
}

/** One entity: YAML for people, JSON with --json. */
export function printView(c: CliContext, view: unknown, json?: boolean): void {
  c.out(json ? JSON.stringify(view, null, 2) : toYaml(view).trimEnd());
}

/** A listing: a table of `columns`, or a JSON array with --json. */
export function printList<V>(
  c: CliContext,
  rows: V[],
  columns: [string, (v: V) => unknown][],
  json?: boolean,
): void {
  if (json) {
    c.out(JSON.stringify(rows, null, 2));
    return;
  }
  const cells = [columns.map(([h]) => h), ...rows.map((r) => columns.map(([, f]) => cell(f(r))))];
  const widths = columns.map((_, i) => Math.max(...cells.map((row) => (row[i] as string).length)));
  for (const row of cells)
    c.out(
      row
        .map((v, i) => v.padEnd(widths[i] as number))
        .join('  ')
        .trimEnd(),
    );
}

function cell(v: unknown): string {
  if (v === undefined || v === null || v === '') return '-';
  if (Array.isArray(v)) return v.length ? v.join(',') : '-';
  return String(v);
}

/** Repeatable option: `--ssh-key a --ssh-key b`. */
export const collect = (value: string, previous: string[] = []) => [...previous, value];

/** A whole number option; the error names the flag. */
export function intOption(flag: string) {
  return (value: string): number => {
    if (!/^\d+$/.test(value))
      throw new StorageError('InvalidArgument', `${flag}: must be a whole number, got ${value}`);
    return Number(value);
  };
}

/** A secret from standard input (`--password-stdin`): everything read, one trailing newline dropped. */
export async function readStdinSecret(flag: string): Promise<string> {
  if (process.stdin.isTTY) {
    throw new StorageError('InvalidArgument', `${flag}: standard input is a terminal; pipe the secret in`);
  }
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
  if (!text) throw new StorageError('InvalidArgument', `${flag}: nothing was read from standard input`);
  return text;
}

/** The password of `--password P` or `--password-stdin`, or undefined when neither was given. */
export async function passwordFrom(opts: {
  password?: string;
  passwordStdin?: boolean;
}): Promise<string | undefined> {
  if (opts.password !== undefined && opts.passwordStdin) {
    throw new StorageError('InvalidArgument', '--password and --password-stdin: give one of them');
  }
  if (opts.passwordStdin) return readStdinSecret('--password-stdin');
  return opts.password;
}
