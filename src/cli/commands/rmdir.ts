import type { Command } from 'commander';
import type { CliContext } from '../context.js';

export function registerRmdir(program: Command, ctx: () => CliContext): void {
  program
    .command('rmdir')
    .description('remove empty folders')
    .argument('<locations...>')
    .action(async (args: string[]) => {
      for (const arg of args) {
        const loc = ctx().locations.open(arg);
        await loc.storage.rmdir(loc.path);
      }
    });
}
