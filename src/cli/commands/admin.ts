import type { Command } from 'commander';
import { type AdminView, adminRoles } from '../../accounts/model.js';
import type { AdminPatch } from '../../accounts/types.js';
import { StorageError } from '../../storage/errors.js';
import { adminGroup, passwordFrom, printList, printView, withAdmin } from '../admin/admin-command.js';
import type { CliContext } from '../context.js';

interface AdminFlags {
  password?: string;
  passwordStdin?: boolean;
  role?: string;
}

/** `ferry admin add|list|show|set|rm`: the accounts that manage the server (roles: admin, manager, viewer). */
export function registerAdmin(program: Command, ctx: () => CliContext): void {
  const admin = adminGroup(program, 'admin', 'admin accounts: add, list, show, set, rm');
  const flags = (c: Command) =>
    c
      .option('--password <password>', 'the password (prefer --password-stdin)')
      .option('--password-stdin', 'read the password from standard input')
      .option('--role <role>', `one of ${adminRoles.join(', ')}`);

  flags(admin.command('add').argument('<name>'))
    .description('create an admin')
    .action(async (name: string, opts: AdminFlags, cmd: Command) => {
      const c = ctx();
      const password = await passwordFrom(opts);
      if (password === undefined)
        throw new StorageError('InvalidArgument', '--password or --password-stdin: required');
      await withAdmin(cmd, async (api, g) => {
        const view = await api.admins.create({
          username: name,
          password,
          ...(opts.role && { role: opts.role as AdminView['role'] }),
        });
        if (g.json) printView(c, view, true);
        else c.out(`created admin ${view.username} (${view.role})`);
      });
    });

  admin
    .command('list')
    .description('list admins')
    .action(async (_opts: unknown, cmd: Command) => {
      const c = ctx();
      await withAdmin(cmd, async (api, g) =>
        printList<AdminView>(
          c,
          await api.admins.list(),
          [
            ['ADMIN', (a) => a.username],
            ['ROLE', (a) => a.role],
            ['CREATED', (a) => a.createdAt],
          ],
          g.json,
        ),
      );
    });

  admin
    .command('show')
    .argument('<name>')
    .description('one admin')
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      const c = ctx();
      await withAdmin(cmd, async (api, g) => printView(c, await api.admins.get(name), g.json));
    });

  flags(admin.command('set').argument('<name>'))
    .description("change an admin's password or role")
    .action(async (name: string, opts: AdminFlags, cmd: Command) => {
      const c = ctx();
      const password = await passwordFrom(opts);
      const patch: AdminPatch = {
        ...(password !== undefined && { password }),
        ...(opts.role && { role: opts.role as AdminView['role'] }),
      };
      if (Object.keys(patch).length === 0)
        throw new StorageError('InvalidArgument', 'nothing to change (see --help)');
      await withAdmin(cmd, async (api, g) => {
        const view = await api.admins.update(name, patch);
        if (g.json) printView(c, view, true);
        else c.out(`changed admin ${view.username}`);
      });
    });

  admin
    .command('rm')
    .argument('<name>')
    .description('remove an admin')
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      const c = ctx();
      await withAdmin(cmd, async (api, g) => {
        await api.admins.remove(name);
        c.out(g.json ? JSON.stringify({ removed: name }) : `removed admin ${name}`);
      });
    });
}
