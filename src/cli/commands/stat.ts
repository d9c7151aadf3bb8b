import type { Command } from 'commander';
import { archiveClasses } from '../../s3/restore.js';
import type { CliContext } from '../context.js';
import { entryJson, humanBytes } from '../output.js';

export function registerStat(program: Command, ctx: () => CliContext): void {
  program
    .command('stat')
    .description('show what is known about a file or folder')
    .argument('<location>', 'local path or s3://bucket/key')
    .option('--json', 'as JSON')
    .action(async (arg: string, opts: { json?: boolean }) => {
      const c = ctx();
      const loc = c.locations.open(arg);
      const e = await loc.storage.stat(loc.path);
      if (opts.json) {
        c.out(JSON.stringify(entryJson(e), null, 2));
        return;
      }
      c.out(`path:          ${loc.display}`);
      c.out(`type:          ${e.type === 'dir' ? 'folder' : 'file'}`);
      if (e.type === 'file') c.out(`size:          ${e.size} (${humanBytes(e.size)})`);
      c.out(`modified:      ${e.mtime.toISOString()}`);
      if (e.contentType) c.out(`content-type:  ${e.contentType}`);
      if (e.etag) c.out(`etag:          ${e.etag}`);
      if (e.storageClass && e.type === 'file') c.out(`storage-class: ${e.storageClass}`);
      if (e.type === 'file' && archiveClasses.has(e.storageClass ?? '') && loc.storage.attributes) {
        // Archived: say whether it can be read (one more HEAD, only for such files).
        const { restore } = await loc.storage.attributes(loc.path);
        c.out(
          `restore:       ${!restore ? 'not restored (ferry restore)' : restore.ongoing ? 'in progress' : `restored until ${restore.expires?.toISOString() ?? '?'}`}`,
        );
      }
      for (const [k, v] of Object.entries(e.metadata ?? {})) c.out(`meta ${k}: ${v}`);
    });
}
