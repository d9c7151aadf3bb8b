import { pipeline } from 'node:stream/promises';
import type { Command } from 'commander';
import { StorageError } from '../../storage/errors.js';
import type { CliContext } from '../context.js';
import { catVersion } from './versions.js';

export function registerCat(program: Command, ctx: () => CliContext): void {
  program
    .command('cat')
    .description('write a file to standard output')
    .argument('<location>', 'local path or s3://bucket/key')
    .option('--offset <bytes>', 'start at this byte', (v) => Number.parseInt(v, 10))
    .option('--length <bytes>', 'write at most this many bytes', (v) => Number.parseInt(v, 10))
    .option('--version-id <id>', 'S3: this version of the file (see `ferry versions ls`)')
    .action(async (arg: string, opts: { offset?: number; length?: number; versionId?: string }) => {
      if (opts.versionId) {
        if (opts.offset !== undefined || opts.length !== undefined)
          throw new StorageError(
            'InvalidArgument',
            '--version-id takes the whole version (no --offset/--length yet)',
          );
        return catVersion(ctx(), arg, opts.versionId);
      }
      const loc = ctx().locations.open(arg);
      const body = await loc.storage.read(loc.path, { offset: opts.offset, length: opts.length });
      await pipeline(body, process.stdout, { end: false });
    });
}
