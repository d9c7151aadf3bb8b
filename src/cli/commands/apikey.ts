import type { Command } from 'commander';
import type { ApiKeyView } from '../../accounts/model.js';
import { StorageError } from '../../storage/errors.js';
import { adminGroup, printList, printView, withAdmin } from '../admin/admin-command.js';
import type { CliContext } from '../context.js';

/**
 * `ferry apikey add|list|show|rm`: API keys acting as an admin (admin API) or a user (file API).
 * The secret is printed once, by `add`; nothing can show it again.
 */
export function registerApiKey(program: Command, ctx: () => CliContext): void {
  const apikey = adminGroup(program, 'apikey', 'API keys for the REST API: add, list, show, rm');

  apikey
    .command('add')
    .argument('<name>', 'what the key is for')
    .option('--admin <name>', 'the key acts as this admin')
    .option('--user <name>', 'the key acts as this user (file API)')
    .option('--expires <time>', 'ISO-8601 time after which it is refused')
    .description('create a key and print its secret (once)')
    .action(async (name: string, opts: { admin?: string; user?: string; expires?: string }, cmd: Command) => {
      const c = ctx();
      if (!opts.admin === !opts.user)
        throw new StorageError('InvalidArgument', '--admin or --user: give one of them');
      await withAdmin(cmd, async (api, g) => {
        const { key, secret } = await api.apiKeys.create({
          name,
          owner: opts.admin ? { admin: opts.admin } : { user: opts.user as string },
          ...(opts.expires && { expiresAt: opts.expires }),
        });
        if (g.json) c.out(JSON.stringify({ key, secret }, null, 2));
        else {
          c.out(`created API key ${key.id} (${key.name})`);
          c.out(`secret (shown once, keep it): ${secret}`);
        }
      });
    });

  apikey
    .command('list')
    .description('list keys (never their secrets)')
    .action(async (_opts: unknown, cmd: Command) => {
      const c = ctx();
      await withAdmin(cmd, async (api, g) =>
        printList<ApiKeyView>(
          c,
          await api.apiKeys.list(),
          [
            ['ID', (k) => k.id],
            ['NAME', (k) => k.name],
            ['OWNER', (k) => ('admin' in k.owner ? `admin:${k.owner.admin}` : `user:${k.owner.user}`)],
            ['EXPIRES', (k) => k.expiresAt],
            ['LAST USED', (k) => k.lastUsedAt],
          ],
          g.json,
        ),
      );
    });

  apikey
    .command('show')
    .argument('<id>')
    .description('one key (not its secret)')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const c = ctx();
      await withAdmin(cmd, async (api, g) => printView(c, await api.apiKeys.get(id), g.json));
    });

  apikey
    .command('rm')
    .argument('<id>')
    .description('revoke a key')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const c = ctx();
      await withAdmin(cmd, async (api, g) => {
        await api.apiKeys.remove(id);
        c.out(g.json ? JSON.stringify({ removed: id }) : `revoked API key ${id}`);
      });
    });
}
