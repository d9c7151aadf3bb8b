import type { Command } from 'commander';
import { ensureDir } from '../../storage/operations.js';
import type { CliContext } from '../context.js';

export function registerMkdir(program: Command, ctx: () => CliContext): void {
  program
    .command('mkdir')
    .description('create folders (on S3: a zero-byte `name/` marker, application/x-directory)')
    .argument('<locations...>')
    .option('-p, --parents', 'no error if the folder exists')
    .action(async (args: string[], opts: { parents?: boolean }) => {
      for (const arg of args) {
        const loc = ctx().locations.open(arg);
        if (opts.parents) await ensureDir(loc.storage, loc.path);
        else await loc.storage.mkdir(loc.path);
      }
    });
}
