import type { Command } from 'commander';
import { StorageError } from '../../storage/errors.js';
import type { AttributeChanges, FileAttributes } from '../../storage/types.js';
import { forEachConcurrent } from '../../util/concurrency.js';
import type { CliContext } from '../context.js';
import type { Location } from '../location.js';

/**
 * `ferry meta [show|set|rm]` and `ferry set-class`: a file's headers, user metadata and storage
 * class, changed server-side in place (Storage `updateAttributes`: one exact copy keeping class
 * and encryption unless they change).
 */
export function registerMeta(program: Command, ctx: () => CliContext): void {
  const meta = program.command('meta').description("a file's headers, user metadata and storage class (S3)");
  meta
    .command('show', { isDefault: true })
    .description('show them (the default: `ferry meta LOC`)')
    .argument('<location>', 's3://bucket/key')
    .option('--json', 'as JSON')
    .action(async (arg: string, opts: { json?: boolean }) => {
      const c = ctx();
      const loc = s3File(c, arg);
      print(c, await loc.storage.attributes!(loc.path, { signal: c.signal }), opts.json);
    });
  meta
    .command('set')
    .description('set user metadata (name=value) and headers, in place')
    .argument('<location>', 's3://bucket/key')
    .argument('[pairs...]', 'metadata as name=value')
    .option('--content-type <type>', 'Content-Type')
    .option('--content-disposition <value>', 'Content-Disposition ("" removes it)')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', '\n--cache-control VALUE (the global flag) sets Cache-Control; "" removes it.')
    .action(async (arg: string, pairs: string[], _opts: unknown, command: Command) => {
      // --cache-control is also a global flag (the default for new objects): read it from there.
      const opts = command.optsWithGlobals<{
        contentType?: string;
        cacheControl?: string;
        contentDisposition?: string;
        json?: boolean;
      }>();
      const c = ctx();
      const metadata: Record<string, string> = {};
      for (const p of pairs) {
        const eq = p.indexOf('=');
        if (eq < 1) throw new StorageError('InvalidArgument', `expected name=value, got "${p}"`);
        metadata[p.slice(0, eq)] = p.slice(eq + 1);
      }
      const changes: AttributeChanges = { metadata };
      if (opts.contentType !== undefined) changes.contentType = opts.contentType;
      if (opts.cacheControl !== undefined) changes.cacheControl = opts.cacheControl || null;
      if (opts.contentDisposition !== undefined) changes.contentDisposition = opts.contentDisposition || null;
      if (!pairs.length && Object.keys(changes).length === 1)
        throw new StorageError('InvalidArgument', 'nothing to set: give name=value pairs or a header option');
      const loc = s3File(c, arg);
      print(c, await loc.storage.updateAttributes!(loc.path, changes, { signal: c.signal }), opts.json);
    });
  meta
    .command('rm')
    .description('remove user metadata names, in place')
    .argument('<location>', 's3://bucket/key')
    .argument('<names...>', 'metadata names')
    .action(async (arg: string, names: string[]) => {
      const c = ctx();
      const loc = s3File(c, arg);
      const attrs = await loc.storage.attributes!(loc.path, { signal: c.signal });
      const missing = names.filter((n) => !(n.toLowerCase() in attrs.metadata));
      if (missing.length)
        throw new StorageError('NotFound', `no metadata named ${missing.join(', ')} on ${loc.display}`);
      await loc.storage.updateAttributes!(
        loc.path,
        { metadata: Object.fromEntries(names.map((n) => [n, null])) },
        { signal: c.signal },
      );
    });
  program
    .command('set-class')
    .description('change the storage class of files (server-side, keeping everything else)')
    .argument(
      '<class>',
      'STANDARD, STANDARD_IA, ONEZONE_IA, INTELLIGENT_TIERING, GLACIER_IR, GLACIER, DEEP_ARCHIVE, …',
    )
    .argument('<locations...>', 's3://bucket/key (folders with -r)')
    .option('-r, --recursive', 'every file below a folder')
    .option('-v, --verbose', 'print each file changed')
    .action(
      async (storageClass: string, args: string[], opts: { recursive?: boolean; verbose?: boolean }) => {
        const c = ctx();
        if (!/^[A-Z_]+$/.test(storageClass))
          throw new StorageError(
            'InvalidArgument',
            `not a storage class name: ${storageClass} (e.g. STANDARD_IA)`,
          );
        let changed = 0;
        for (const arg of args) {
          const loc = s3File(c, arg);
          const st = await loc.storage.stat(loc.path, { signal: c.signal });
          const files: AsyncIterable<string> | string[] =
            st.type === 'file' ? [loc.path] : filesBelow(loc, opts.recursive, arg);
          await forEachConcurrent(files, 8, async (path) => {
            await loc.storage.updateAttributes!(path, { storageClass }, { signal: c.signal });
            changed++;
            if (opts.verbose) c.out(`${path} -> ${storageClass}`);
          });
        }
        c.warn(`${changed} file(s) now in ${storageClass}`);
      },
    );
}

async function* filesBelow(
  loc: Location,
  recursive: boolean | undefined,
  arg: string,
): AsyncIterable<string> {
  if (!recursive) throw new StorageError('IsADirectory', `${arg} is a folder (use -r)`);
  for await (const e of loc.storage.list(loc.path, { recursive: true })) if (e.type === 'file') yield e.path;
}

function s3File(c: CliContext, arg: string): Location {
  const loc = c.locations.open(arg);
  if (!loc.storage.attributes || !loc.storage.updateAttributes)
    throw new StorageError('InvalidArgument', `needs an s3:// location, got ${arg}`);
  return loc;
}

function print(c: CliContext, a: FileAttributes, json?: boolean): void {
  if (json) {
    c.out(JSON.stringify(a, null, 2));
    return;
  }
  const line = (k: string, v: string | undefined) => v !== undefined && c.out(`${k.padEnd(20)} ${v}`);
  line('content-type', a.contentType);
  line('cache-control', a.cacheControl);
  line('content-disposition', a.contentDisposition);
  line('content-encoding', a.contentEncoding);
  line('content-language', a.contentLanguage);
  line('expires', a.expires);
  line('storage-class', a.storageClass);
  line('encryption', a.encryption);
  if (a.restore)
    line(
      'restore',
      a.restore.ongoing ? 'in progress' : `restored until ${a.restore.expires?.toISOString() ?? '?'}`,
    );
  for (const [k, v] of Object.entries(a.metadata)) line(`meta ${k}`, v);
}
