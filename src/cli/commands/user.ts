import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import type { Command } from 'commander';
import type { UserInput, UserView } from '../../accounts/model.js';
import type { UserPatch } from '../../accounts/types.js';
import { StorageError } from '../../storage/errors.js';
import { type AccountFlagValues, accountSettingsFrom, addAccountFlags } from '../admin/account-flags.js';
import {
  adminGroup,
  collect,
  passwordFrom,
  printList,
  printView,
  withAdmin,
} from '../admin/admin-command.js';
import type { CliContext } from '../context.js';

interface UserFlags extends AccountFlagValues {
  password?: string;
  passwordStdin?: boolean;
  sshKey?: string[];
  group?: string[];
  disabled?: boolean;
  enable?: boolean;
  disable?: boolean;
  expires?: string;
}

/**
 * `ferry user add|list|show|set|rm`: the users who log in to the servers, on a data folder or a
 * running server (admin-command.ts). Passwords are taken from `--password` or, better, stdin;
 * they are never printed.
 */
export function registerUser(program: Command, ctx: () => CliContext): void {
  const user = adminGroup(program, 'user', 'users who log in to the servers: add, list, show, set, rm');

  const withUserFlags = (c: Command) =>
    addAccountFlags(
      c
        .option(
          '--password <password>',
          'the password (prefer --password-stdin: the command line is visible to ps)',
        )
        .option('--password-stdin', 'read the password from standard input')
        .option('--ssh-key <file|line>', 'an OpenSSH public key, or a file of them (repeatable)', collect)
        .option('--group <name>', 'a group whose settings apply (repeatable, in order)', collect)
        .option('--expires <time>', 'ISO-8601 time after which logins are refused'),
    );

  withUserFlags(
    user.command('add').argument('<name>', 'the username').option('--disabled', 'create it disabled'),
  )
    .description('create a user, e.g. ferry user add alice --password-stdin --home s3://bucket/alice/')
    .action(async (name: string, opts: UserFlags, cmd: Command) => {
      const c = ctx();
      await withAdmin(cmd, async (api, g) => {
        const { settings, notes } = await accountSettingsFrom(opts, api);
        const input: UserInput = {
          ...settings,
          username: name,
          ...(await userFields(opts)),
          ...(opts.disabled && { enabled: false }),
        };
        const view = await api.users.create(input);
        for (const n of notes) c.warn(n);
        if (g.json) printView(c, view, true);
        else c.out(`created user ${view.username} (${api.target})`);
      });
    });

  user
    .command('list')
    .description('list users')
    .action(async (_opts: unknown, cmd: Command) => {
      const c = ctx();
      await withAdmin(cmd, async (api, g) => {
        printList<UserView>(
          c,
          await api.users.list(),
          [
            ['USER', (u) => u.username],
            ['ENABLED', (u) => (u.enabled ? 'yes' : 'no')],
            ['HOME', (u) => homeText(u.home)],
            ['GROUPS', (u) => u.groups],
            ['EXPIRES', (u) => u.expiresAt],
          ],
          g.json,
        );
      });
    });

  user
    .command('show')
    .argument('<name>')
    .description("a user's settings (never the password)")
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      const c = ctx();
      await withAdmin(cmd, async (api, g) => printView(c, await api.users.get(name), g.json));
    });

  withUserFlags(
    user
      .command('set')
      .argument('<name>')
      .option('--enable', 'allow logins')
      .option('--disable', 'refuse logins'),
  )
    .description('change a user: only the settings given change (lists such as --ssh-key are replaced)')
    .action(async (name: string, opts: UserFlags, cmd: Command) => {
      const c = ctx();
      await withAdmin(cmd, async (api, g) => {
        if (opts.enable && opts.disable)
          throw new StorageError('InvalidArgument', '--enable and --disable: give one');
        const { settings, notes } = await accountSettingsFrom(opts, api);
        const patch: UserPatch = {
          ...settings,
          ...(await userFields(opts)),
          ...(opts.enable && { enabled: true }),
          ...(opts.disable && { enabled: false }),
        };
        if (Object.keys(patch).length === 0)
          throw new StorageError('InvalidArgument', 'nothing to change (see --help)');
        const view = await api.users.update(name, patch);
        for (const n of notes) c.warn(n);
        if (g.json) printView(c, view, true);
        else c.out(`changed user ${view.username}`);
      });
    });

  user
    .command('rm')
    .argument('<name>')
    .description('remove a user (their files stay where they are)')
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      const c = ctx();
      await withAdmin(cmd, async (api, g) => {
        await api.users.remove(name);
        if (g.json) c.out(JSON.stringify({ removed: name }));
        else c.out(`removed user ${name}`);
      });
    });
}

async function userFields(opts: UserFlags): Promise<Partial<UserInput>> {
  const out: Partial<UserInput> = {};
  const password = await passwordFrom(opts);
  if (password !== undefined) out.password = password;
  if (opts.sshKey) out.sshKeys = opts.sshKey.flatMap(sshKeyLines);
  if (opts.group) out.groups = opts.group;
  if (opts.expires !== undefined) out.expiresAt = opts.expires;
  return out;
}

/** `--ssh-key`: a key line as it is, else a file (`~/` expanded) of key lines. */
function sshKeyLines(value: string): string[] {
  if (/^(ssh-|ecdsa-|sk-)/.test(value)) return [value.trim()];
  const file = value.replace(/^~(?=\/)/, homedir());
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new StorageError(
      'InvalidArgument',
      `--ssh-key: cannot read ${value}: ${(err as NodeJS.ErrnoException).code}`,
    );
  }
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  if (lines.length === 0) throw new StorageError('InvalidArgument', `--ssh-key: ${value} holds no key`);
  return lines;
}

export function homeText(home: UserView['home']): string {
  if (!home) return '(default)';
  return home.type === 'local' ? home.path : `${home.connection}:${home.prefix}`;
}
