import type { Command } from 'commander';
import { isS3Url } from '../../s3/url.js';
import { StorageError } from '../../storage/errors.js';
import { move } from '../../storage/operations.js';
import { baseName, joinPath } from '../../storage/paths.js';
import type { CliContext } from '../context.js';
import { Progress } from '../progress.js';
import { copyTreeCommand } from '../tree-copy.js';
import { isDir, splitDestination, targetPath } from './cp.js';

export function registerMv(program: Command, ctx: () => CliContext): void {
  program
    .command('mv')
    .description(
      'move or rename files and folders; on S3 a folder move is server-side, parallel, and when interrupted is finished by running the same command again',
    )
    .argument('<paths...>', 'sources, then the destination')
    .option('--concurrency <n>', 'files moved at once between different storages (default 8)', (v) =>
      Number.parseInt(v, 10),
    )
    .option('--json', 'progress as JSON lines on stdout (events: progress, done)')
    .option('--no-progress', 'no progress bar (it is shown only on a terminal anyway)')
    .action(async (paths: string[], opts: { concurrency?: number; json?: boolean; progress?: boolean }) => {
      const c = ctx();
      const progress = new Progress({
        mode: Progress.modeFor(opts.json, opts.progress !== false, process.stderr),
        bar: process.stderr,
        out: c.out,
      });
      const [sources, destination] = splitDestination(paths);
      const dst = c.locations.open(destination);
      const dstIsDir = dst.asFolder || (await isDir(dst));
      if (sources.length > 1 && !dstIsDir) {
        throw new StorageError(
          'NotADirectory',
          `moving several sources needs a folder as destination: ${dst.display}`,
        );
      }
      for (const source of sources) {
        const src = c.locations.open(source);
        if (src.storage === dst.storage && dst.storage.rename && dstIsDir && !dst.asFolder) {
          // `mv a b` where b is a folder: b may be the unfinished target of an earlier `mv a b`
          // (the backend knows from its journal); otherwise a goes inside b, as mv(1) does.
          try {
            await dst.storage.rename(src.path, dst.path);
            continue;
          } catch (err) {
            if (!StorageError.is(err, 'AlreadyExists')) throw err;
          }
          await dst.storage.rename(src.path, joinPath(dst.path, baseName(src.path)));
          continue;
        }
        const target = async () =>
          dstIsDir ? joinPath(dst.path, baseName(src.path)) : await targetPath(src, dst);
        if (!(src.storage === dst.storage && dst.storage.rename) && (await isDir(src))) {
          // A folder moved by copying: run again after an interruption, the same command must
          // finish this move (same target, complete files skipped), as cp -r does.
          await copyTreeCommand(c, {
            src,
            dst,
            target,
            localToS3: !isS3Url(source) && isS3Url(destination),
            concurrency: opts.concurrency,
            progress,
            signal: c.signal,
            move: (to, options) => move(src.storage, src.path, dst.storage, to, options),
          });
          continue;
        }
        await move(src.storage, src.path, dst.storage, await target(), {
          concurrency: opts.concurrency,
          onBytes: (n) => progress.add(n),
          onFile: () => progress.fileDone(),
          signal: c.signal,
        });
      }
      progress.finish();
    });
}
