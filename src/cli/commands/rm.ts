import type { Command } from 'commander';
import { StorageError } from '../../storage/errors.js';
import { removeTree } from '../../storage/operations.js';
import type { CliContext } from '../context.js';

export function registerRm(program: Command, ctx: () => CliContext): void {
  program
    .command('rm')
    .description('remove files (and folders with everything below them, with -r)')
    .argument('<locations...>')
    .option('-r, --recursive', 'remove folders and their contents')
    .option('-f, --force', 'no error for what does not exist')
    .action(async (args: string[], opts: { recursive?: boolean; force?: boolean }) => {
      for (const arg of args) {
        const loc = ctx().locations.open(arg);
        try {
          const st = await loc.storage.stat(loc.path);
          if (st.type === 'dir') {
            if (!opts.recursive) {
              throw new StorageError('IsADirectory', `${loc.display} is a folder (use -r)`, {
                path: loc.path,
              });
            }
            await removeTree(loc.storage, loc.path);
          } else await loc.storage.remove(loc.path);
        } catch (err) {
          if (!(opts.force && StorageError.is(err, 'NotFound'))) throw err;
        }
      }
    });
}
