import type { Command } from 'commander';
import { StorageError } from '../../storage/errors.js';
import { copyFile, copyTree } from '../../storage/operations.js';
import { baseName, joinPath } from '../../storage/paths.js';
import type { CliContext } from '../context.js';
import type { Location } from '../location.js';

/**
 * Where `src` lands when copied or moved to `dst`, as cp(1) decides: inside `dst` when it is an
 * existing folder or written with a trailing `/`, else at `dst` itself.
 */
export async function targetPath(src: Location, dst: Location): Promise<string> {
  if (dst.asFolder || (await isDir(dst))) return joinPath(dst.path, baseName(src.path));
  return dst.path;
}

/** `a b c dest` → [[a, b, c], dest]; at least one source is required. */
export function splitDestination(paths: string[]): [string[], string] {
  if (paths.length < 2) throw new StorageError('InvalidArgument', 'need a source and a destination');
  return [paths.slice(0, -1), paths[paths.length - 1]!];
}

export async function isDir(loc: Location): Promise<boolean> {
  try {
    return (await loc.storage.stat(loc.path)).type === 'dir';
  } catch (err) {
    if (StorageError.is(err, 'NotFound')) return false;
    throw err;
  }
}

export function registerCp(program: Command, ctx: () => CliContext): void {
  program
    .command('cp')
    .description(
      'copy files or (with -r) folders: local↔S3, S3↔S3 (server-side within one account), local↔local',
    )
    .argument(
      '<paths...>',
      'local paths or s3:// URLs; the last is the destination (a trailing / means "into this folder")',
    )
    .option('-r, --recursive', 'copy folders with everything below them')
    .option('-v, --verbose', 'print each file copied')
    .option('--concurrency <n>', 'files copied at once (default 8)', (v) => Number.parseInt(v, 10))
    .action(
      async (paths: string[], opts: { recursive?: boolean; verbose?: boolean; concurrency?: number }) => {
        const c = ctx();
        const [sources, destination] = splitDestination(paths);
        const dst = c.locations.open(destination);
        if (sources.length > 1 && !(dst.asFolder || (await isDir(dst)))) {
          throw new StorageError(
            'NotADirectory',
            `copying several sources needs a folder as destination: ${destination}`,
          );
        }
        for (const source of sources) {
          const src = c.locations.open(source);
          const st = await src.storage.stat(src.path);
          const to = await targetPath(src, dst);
          if (st.type === 'dir') {
            if (!opts.recursive)
              throw new StorageError('IsADirectory', `${src.display} is a folder (use -r)`, {
                path: src.path,
              });
            await copyTree(src.storage, src.path, dst.storage, to, {
              concurrency: opts.concurrency,
              onFile: opts.verbose ? (e, t) => c.out(`${e.path} -> ${t}`) : undefined,
            });
          } else {
            await copyFile(src.storage, src.path, dst.storage, to, st);
            if (opts.verbose) c.out(`${src.display} -> ${to}`);
          }
        }
      },
    );
}
