import type { Command } from 'commander';
import { objectParamsFor } from '../../s3/object-params.js';
import { archiveClasses, restoreObject, restoreTiers, restoreTimes } from '../../s3/restore.js';
import { StorageError } from '../../storage/errors.js';
import { forEachConcurrent } from '../../util/concurrency.js';
import type { CliContext } from '../context.js';
import { openS3Target } from '../s3-target.js';

/** `ferry restore LOC [--days N] [--tier T] [-r]`: restore archived (Glacier) files for N days. */
export function registerRestore(program: Command, ctx: () => CliContext): void {
  program
    .command('restore')
    .description(`restore archived (GLACIER, DEEP_ARCHIVE) files for a number of days; takes ${restoreTimes}`)
    .argument('<location>', 's3://bucket/key, or a folder with -r')
    .option('--days <n>', 'days the restored copy stays readable', (v) => Number.parseInt(v, 10), 7)
    .option('--tier <tier>', `${restoreTiers.join(', ')}`, 'Standard')
    .option('-r, --recursive', 'every archived file below a folder')
    .action(async (url: string, opts: { days: number; tier: string; recursive?: boolean }) => {
      const c = ctx();
      const tier = restoreTiers.find((t) => t.toLowerCase() === opts.tier.toLowerCase());
      if (!tier)
        throw new StorageError('InvalidArgument', `--tier must be one of ${restoreTiers.join(', ')}`);
      const t = openS3Target(c, url);
      const loc = c.locations.open(url);
      try {
        const requestPayer = objectParamsFor(t.conn).payer.RequestPayer;
        const st = await loc.storage.stat(loc.path, { signal: c.signal });
        let files: { key: string; path: string; storageClass?: string }[];
        if (st.type === 'file') files = [{ key: t.key, path: loc.path, storageClass: st.storageClass }];
        else {
          if (!opts.recursive) throw new StorageError('IsADirectory', `${url} is a folder (use -r)`);
          files = [];
          for await (const e of loc.storage.list(loc.path, { recursive: true, signal: c.signal }))
            if (e.type === 'file' && archiveClasses.has(e.storageClass ?? ''))
              files.push({
                key: `${t.key}/${e.path.slice(loc.path.length + 1)}`,
                path: e.path,
                storageClass: e.storageClass,
              });
        }
        if (st.type === 'file' && !archiveClasses.has(st.storageClass ?? 'STANDARD'))
          throw new StorageError(
            'InvalidArgument',
            `${url} is in ${st.storageClass ?? 'STANDARD'}, not archived: it can be read as it is`,
          );
        const counts = { started: 0, already: 0 };
        await forEachConcurrent(files, 8, async (f) => {
          counts[await restoreObject(t.client, t.bucket, f.key, { days: opts.days, tier, requestPayer })]++;
        });
        c.out(
          `restore asked for ${counts.started} file(s) (${tier}, ${opts.days} day(s))${counts.already ? `; ${counts.already} already being restored` : ''}; \`ferry stat\` shows when each is ready`,
        );
      } finally {
        t.close();
      }
    });
}
