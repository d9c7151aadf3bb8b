import type { Command } from 'commander';
import type { GroupView } from '../../accounts/model.js';
import { StorageError } from '../../storage/errors.js';
import { accountSettingsFrom, addAccountFlags } from '../admin/account-flags.js';
import { adminGroup, printList, printView, withAdmin } from '../admin/admin-command.js';
import type { CliContext } from '../context.js';
import { homeText } from './user.js';

/** `ferry group add|list|show|set|rm`: groups whose settings their members inherit. */
export function registerGroup(program: Command, ctx: () => CliContext): void {
  const group = adminGroup(
    program,
    'group',
    'groups whose settings members inherit: add, list, show, set, rm',
  );

  addAccountFlags(group.command('add').argument('<name>'))
    .description('create a group; --home may use %username% (s3://bucket/team/%username%/)')
    .action(async (name: string, opts: Record<string, never>, cmd: Command) => {
      const c = ctx();
      await withAdmin(cmd, async (api, g) => {
        const { settings, notes } = await accountSettingsFrom(opts, api);
        const view = await api.groups.create({ ...settings, name });
        for (const n of notes) c.warn(n);
        if (g.json) printView(c, view, true);
        else c.out(`created group ${view.name}`);
      });
    });

  group
    .command('list')
    .description('list groups')
    .action(async (_opts: unknown, cmd: Command) => {
      const c = ctx();
      await withAdmin(cmd, async (api, g) =>
        printList<GroupView>(
          c,
          await api.groups.list(),
          [
            ['GROUP', (v) => v.name],
            ['HOME', (v) => (v.home ? homeText(v.home) : undefined)],
            ['DESCRIPTION', (v) => v.description],
          ],
          g.json,
        ),
      );
    });

  group
    .command('show')
    .argument('<name>')
    .description("a group's settings")
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      const c = ctx();
      await withAdmin(cmd, async (api, g) => printView(c, await api.groups.get(name), g.json));
    });

  addAccountFlags(group.command('set').argument('<name>'))
    .description('change a group: only the settings given change')
    .action(async (name: string, opts: Record<string, never>, cmd: Command) => {
      const c = ctx();
      await withAdmin(cmd, async (api, g) => {
        const { settings, notes } = await accountSettingsFrom(opts, api);
        if (Object.keys(settings).length === 0)
          throw new StorageError('InvalidArgument', 'nothing to change (see --help)');
        const view = await api.groups.update(name, settings);
        for (const n of notes) c.warn(n);
        if (g.json) printView(c, view, true);
        else c.out(`changed group ${view.name}`);
      });
    });

  group
    .command('rm')
    .argument('<name>')
    .description('remove a group (refused while it has members)')
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      const c = ctx();
      await withAdmin(cmd, async (api, g) => {
        await api.groups.remove(name);
        c.out(g.json ? JSON.stringify({ removed: name }) : `removed group ${name}`);
      });
    });
}
