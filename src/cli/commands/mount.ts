import type { Command } from 'commander';
import type { MountView } from '../../accounts/model.js';
import { storageTargetFrom } from '../../server/locations.js';
import { StorageError } from '../../storage/errors.js';
import { adminGroup, printList, printView, withAdmin } from '../admin/admin-command.js';
import type { CliContext } from '../context.js';
import { homeText } from './user.js';

interface MountFlags {
  user?: string;
  group?: string;
  readOnly?: boolean;
  permissions?: string;
}

/** `ferry mount add|list|show|set|rm`: virtual folders in a user's (or a group's) tree. */
export function registerMount(program: Command, ctx: () => CliContext): void {
  const mount = adminGroup(
    program,
    'mount',
    "virtual folders in a user's or group's tree: add, list, show, set, rm",
  );
  const owner = (opts: MountFlags) => {
    if (!opts.user === !opts.group)
      throw new StorageError('InvalidArgument', '--user or --group: give one of them');
    return opts.user ? { user: opts.user } : { group: opts.group as string };
  };
  const perms = (v?: string) => v?.split(',').map((p) => p.trim()) as MountView['permissions'];

  mount
    .command('add')
    .argument('<path>', 'where it appears in the tree, e.g. /shared')
    .argument('<target>', 's3://bucket/prefix/, an absolute folder, or CONNECTION:prefix')
    .option('--user <name>', 'the user who sees it')
    .option('--group <name>', 'the group whose members see it')
    .option('--read-only', 'no changes through the mount')
    .option('--permissions <list>', 'permissions inside it, e.g. list,download (default: those at its path)')
    .description('add a mount')
    .action(async (path: string, target: string, opts: MountFlags, cmd: Command) => {
      const c = ctx();
      await withAdmin(cmd, async (api, g) => {
        const t = await storageTargetFrom(target, api.connections, '<target>');
        const view = await api.mounts.create({
          owner: owner(opts),
          path,
          target: t.target,
          ...(opts.readOnly && { readOnly: true }),
          ...(opts.permissions && { permissions: perms(opts.permissions) }),
        });
        if (t.note) c.warn(t.note);
        if (g.json) printView(c, view, true);
        else c.out(`created mount ${view.id}: ${view.path} → ${homeText(view.target)}`);
      });
    });

  mount
    .command('list')
    .option('--user <name>', 'only this user’s')
    .option('--group <name>', 'only this group’s')
    .description('list mounts')
    .action(async (opts: MountFlags, cmd: Command) => {
      const c = ctx();
      await withAdmin(cmd, async (api, g) => {
        const all = await api.mounts.list();
        const rows = all.filter(
          (m) =>
            (!opts.user || ('user' in m.owner && m.owner.user === opts.user)) &&
            (!opts.group || ('group' in m.owner && m.owner.group === opts.group)),
        );
        printList<MountView>(
          c,
          rows,
          [
            ['ID', (m) => m.id],
            ['OWNER', (m) => ('user' in m.owner ? `user:${m.owner.user}` : `group:${m.owner.group}`)],
            ['PATH', (m) => m.path],
            ['TARGET', (m) => homeText(m.target)],
            ['MODE', (m) => (m.readOnly ? 'ro' : 'rw')],
          ],
          g.json,
        );
      });
    });

  mount
    .command('show')
    .argument('<id>')
    .description('one mount')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const c = ctx();
      await withAdmin(cmd, async (api, g) => printView(c, await api.mounts.get(id), g.json));
    });

  mount
    .command('set')
    .argument('<id>')
    .option('--path <path>', 'move it in the tree')
    .option('--target <location>', 'another target')
    .option('--read-only <yes|no>', 'no changes through the mount')
    .option('--permissions <list>', 'permissions inside it')
    .description('change a mount')
    .action(
      async (
        id: string,
        opts: { path?: string; target?: string; readOnly?: string; permissions?: string },
        cmd: Command,
      ) => {
        const c = ctx();
        await withAdmin(cmd, async (api, g) => {
          const patch: Record<string, unknown> = {};
          if (opts.path) patch.path = opts.path;
          if (opts.target)
            patch.target = (await storageTargetFrom(opts.target, api.connections, '--target')).target;
          if (opts.readOnly !== undefined) {
            if (!/^(yes|no)$/.test(opts.readOnly))
              throw new StorageError('InvalidArgument', '--read-only: yes or no');
            patch.readOnly = opts.readOnly === 'yes';
          }
          if (opts.permissions) patch.permissions = perms(opts.permissions);
          if (Object.keys(patch).length === 0)
            throw new StorageError('InvalidArgument', 'nothing to change (see --help)');
          const view = await api.mounts.update(id, patch);
          if (g.json) printView(c, view, true);
          else c.out(`changed mount ${view.id}`);
        });
      },
    );

  mount
    .command('rm')
    .argument('<id>')
    .description('remove a mount (the files stay)')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const c = ctx();
      await withAdmin(cmd, async (api, g) => {
        await api.mounts.remove(id);
        c.out(g.json ? JSON.stringify({ removed: id }) : `removed mount ${id}`);
      });
    });
}
