import type { Command } from 'commander';
import { isS3Url } from '../../s3/url.js';
import { StorageError } from '../../storage/errors.js';
import { baseName } from '../../storage/paths.js';
import type { Entry } from '../../storage/types.js';
import type { CliContext } from '../context.js';
import { entryJson, longLine } from '../output.js';
import { splitAccountUrl } from '../s3-target.js';

export function registerLs(program: Command, ctx: () => CliContext): void {
  program
    .command('ls')
    .description('list a folder (or show one file); streams huge folders page by page')
    .argument('[location]', 'local path or s3://bucket/prefix; s3:// alone lists the buckets', '.')
    .option('-l, --long', 'size, modification time (UTC) and name')
    .option('-h, --human', 'sizes in KiB/MiB/GiB (with -l)')
    .option('-R, --recursive', 'everything below, with paths relative to the location')
    .option('--json', 'one JSON object per line')
    .option(
      '--versions',
      'S3: each file of the folder with its number of versions (and whether it is deleted)',
    )
    .action(
      async (
        arg: string,
        opts: { long?: boolean; human?: boolean; recursive?: boolean; json?: boolean; versions?: boolean },
      ) => {
        const c = ctx();
        // `s3://` (or `s3+http://host/`, keys and all) names no bucket: list the buckets.
        if (isS3Url(arg) && !splitAccountUrl(arg).bucket)
          return (await import('./bucket.js')).listBucketsCommand(c, arg, opts);
        if (opts.versions) {
          if (!isS3Url(arg)) throw new StorageError('InvalidArgument', '--versions needs an s3:// folder');
          return (await import('./versions.js')).listVersionCounts(c, arg, opts.json);
        }
        const loc = c.locations.open(arg);
        const line = (e: Entry, name: string) => {
          if (opts.json) return JSON.stringify(entryJson(e));
          if (opts.long) return longLine(e, name, Boolean(opts.human));
          return e.type === 'dir' ? `${name}/` : name;
        };
        const st =
          loc.path === '' || loc.asFolder
            ? undefined
            : await loc.storage.stat(loc.path, { signal: c.signal });
        if (st?.type === 'file') {
          c.out(line(st, baseName(st.path)));
          return;
        }
        const cut = loc.path === '' ? 0 : loc.path.length + 1;
        // Lines go out 256 at a time (one write each, not one per line), and all of them before
        // an error mid-way is reported.
        const lines: string[] = [];
        const flush = () => {
          if (lines.length > 0) c.out(lines.splice(0).join('\n'));
        };
        const add = (line: string) => {
          lines.push(line);
          if (lines.length >= 256) flush();
        };
        const options = { recursive: opts.recursive, folderTimes: Boolean(opts.long), signal: c.signal };
        const take = (e: Entry) => add(line(e, opts.recursive ? e.path.slice(cut) : e.name));
        try {
          // A page of entries at a time where the storage can (S3): no promise per entry.
          if (loc.storage.listBatches) {
            for await (const batch of loc.storage.listBatches(loc.path, options))
              for (const e of batch) take(e);
          } else {
            for await (const e of loc.storage.list(loc.path, options)) take(e);
          }
        } finally {
          flush();
        }
      },
    );
}
