import type { Command } from 'commander';
import type { ConnectionView } from '../../accounts/model.js';
import { connectionSettingsFromUrl } from '../../server/locations.js';
import { StorageError } from '../../storage/errors.js';
import { adminGroup, printList, printView, withAdmin } from '../admin/admin-command.js';
import type { CliContext } from '../context.js';

/**
 * `ferry connection add|list|show|set|rm`: the server's named S3 connections. Settings come
 * from the URL and the global S3 flags (`ferry --storage-class STANDARD_IA connection add …`),
 * the one connection schema; secrets are sealed by the server and never shown again.
 */
export function registerConnection(program: Command, ctx: () => CliContext): void {
  const connection = adminGroup(
    program,
    'connection',
    "the server's named S3 connections: add, list, show, set, rm",
  );

  connection
    .command('add')
    .argument('<name>')
    .argument(
      '<url>',
      's3://bucket (s3+http://KEY:SECRET@host:port/bucket; keys else from $AWS_ACCESS_KEY_ID …)',
    )
    .option('--show-partial-uploads', 'show unfinished multipart uploads in listings')
    .description('create a named connection')
    .action(async (name: string, url: string, opts: { showPartialUploads?: boolean }, cmd: Command) => {
      const c = ctx();
      await withAdmin(cmd, async (api, g) => {
        const { settings, prefix } = connectionSettingsFromUrl(url);
        const view = await api.connections.create({
          name,
          settings: { ...c.locations.s3Settings(), ...settings, ...(prefix && { prefix }) },
          ...(opts.showPartialUploads && { showPartialUploads: true }),
        });
        if (g.json) printView(c, view, true);
        else c.out(`created connection ${view.name}`);
      });
    });

  connection
    .command('list')
    .description('list connections (secrets are never shown: only which are set)')
    .action(async (_opts: unknown, cmd: Command) => {
      const c = ctx();
      await withAdmin(cmd, async (api, g) =>
        printList<ConnectionView>(
          c,
          await api.connections.list(),
          [
            ['NAME', (v) => v.name],
            ['BUCKET', (v) => v.settings.bucket],
            ['ENDPOINT', (v) => v.settings.endpoint ?? '(AWS)'],
            ['SECRETS', (v) => v.secretsSet],
          ],
          g.json,
        ),
      );
    });

  connection
    .command('show')
    .argument('<name>')
    .description("a connection's settings, without its secrets")
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      const c = ctx();
      await withAdmin(cmd, async (api, g) => printView(c, await api.connections.get(name), g.json));
    });

  connection
    .command('set')
    .argument('<name>')
    .option('--url <url>', 'new bucket, endpoint and keys from a URL')
    .option('--show-partial-uploads <yes|no>', 'show unfinished multipart uploads in listings')
    .description('change a connection: the URL and the global S3 flags given')
    .action(async (name: string, opts: { url?: string; showPartialUploads?: string }, cmd: Command) => {
      const c = ctx();
      await withAdmin(cmd, async (api, g) => {
        const settings = {
          ...c.locations.s3Settings(),
          ...(opts.url ? connectionSettingsFromUrl(opts.url).settings : {}),
        };
        const patch: Record<string, unknown> = {};
        if (Object.keys(settings).length) patch.settings = settings;
        if (opts.showPartialUploads !== undefined) {
          if (!/^(yes|no|true|false)$/.test(opts.showPartialUploads)) {
            throw new StorageError('InvalidArgument', '--show-partial-uploads: yes or no');
          }
          patch.showPartialUploads = /^(yes|true)$/.test(opts.showPartialUploads);
        }
        if (Object.keys(patch).length === 0)
          throw new StorageError('InvalidArgument', 'nothing to change (see --help)');
        const view = await api.connections.update(name, patch);
        if (g.json) printView(c, view, true);
        else c.out(`changed connection ${view.name}`);
      });
    });

  connection
    .command('rm')
    .argument('<name>')
    .description('remove a connection (refused while a home or mount uses it)')
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      const c = ctx();
      await withAdmin(cmd, async (api, g) => {
        await api.connections.remove(name);
        c.out(g.json ? JSON.stringify({ removed: name }) : `removed connection ${name}`);
      });
    });
}
