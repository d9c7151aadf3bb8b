import { pipeline } from 'node:stream/promises';
import type { Command } from 'commander';
import type { CliContext } from '../context.js';

export function registerCat(program: Command, ctx: () => CliContext): void {
  program
    .command('cat')
    .description('write a file to standard output')
    .argument('<location>', 'local path or s3://bucket/key')
    .option('--offset <bytes>', 'start at this byte', (v) => Number.parseInt(v, 10))
    .option('--length <bytes>', 'write at most this many bytes', (v) => Number.parseInt(v, 10))
    .action(async (arg: string, opts: { offset?: number; length?: number }) => {
      const loc = ctx().locations.open(arg);
      const body = await loc.storage.read(loc.path, { offset: opts.offset, length: opts.length });
      await pipeline(body, process.stdout, { end: false });
    });
}
