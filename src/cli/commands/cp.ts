import { createReadStream } from 'node:fs';
import * as nodePath from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Command } from 'commander';
import { checksumMismatch, SHA256_META, sha256Of } from '../../s3/checksum.js';
import { isS3Url } from '../../s3/url.js';
import { StorageError } from '../../storage/errors.js';
import { copyFile } from '../../storage/operations.js';
import { baseName, joinPath } from '../../storage/paths.js';
import type { S3WriteOptions } from '../../storage/s3/s3-storage.js';
import type { CliContext } from '../context.js';
import type { Location } from '../location.js';
import { displayPath } from '../location.js';
import { humanBytes } from '../output.js';
import { Progress } from '../progress.js';
import { copyStdStreams, STD_STREAM } from '../std-streams.js';
import { copyTreeCommand } from '../tree-copy.js';
import { openVersion } from './versions.js';

/** Objects from this size copied to a local file are downloaded resumably. */
const RESUMABLE_DOWNLOAD_FROM = 16 * 1024 * 1024;

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

/**
 * `cp --version-id V s3://b/key DST`: the bytes of that version, written (atomically) where a
 * plain cp would put the file; `-` as DST is standard output.
 */
async function copyVersion(
  c: CliContext,
  sources: string[],
  destination: string,
  versionId: string,
): Promise<void> {
  if (sources.length !== 1 || !isS3Url(sources[0]!))
    throw new StorageError('InvalidArgument', '--version-id copies one S3 file');
  const body = await openVersion(c, sources[0]!, versionId);
  if (destination === STD_STREAM) {
    await pipeline(body, process.stdout, { end: false });
    return;
  }
  const src = c.locations.open(sources[0]!);
  const dst = c.locations.open(destination);
  await dst.storage.write(await targetPath(src, dst), body, { signal: c.signal });
}

interface CpOptions {
  versionId?: string;
  recursive?: boolean;
  verbose?: boolean;
  concurrency?: number;
  verify?: boolean;
  checksum?: boolean;
  json?: boolean;
  progress?: boolean;
}

export function registerCp(program: Command, ctx: () => CliContext): void {
  program
    .command('cp')
    .description(
      'copy files or (with -r) folders: local↔S3, S3↔S3 (server-side within one account), local↔local',
    )
    .argument(
      '<paths...>',
      'local paths or s3:// URLs; the last is the destination (a trailing / means "into this folder"); - is standard input (as the source) or standard output (as the destination)',
    )
    .option('-r, --recursive', 'copy folders with everything below them')
    .option('-v, --verbose', 'print each file copied')
    .option('--concurrency <n>', 'files copied at once (default 8)', (v) => Number.parseInt(v, 10))
    .option(
      '--verify',
      'after copying a file, read the copy back and compare its SHA-256 with the bytes that were read',
    )
    .option(
      '--checksum',
      'hash a local file before uploading it, so that large (multipart) objects also carry their SHA-256 (ferry-sha256); costs one extra read',
    )
    .option('--json', 'progress as JSON lines on stdout (events: progress, resumed, verified, done)')
    .option('--no-progress', 'no progress bar (it is shown only on a terminal anyway)')
    .option('--version-id <id>', 'S3 source: copy this version of the file (see `ferry versions ls`)')
    .addHelpText(
      'after',
      '\nA large local file copied to S3 is resumable: if ferry is killed, the same command run again\ncontinues the upload from the parts already in S3 (each checked against the local bytes).',
    )
    .action(async (paths: string[], opts: CpOptions) => {
      const c = ctx();
      const [sources, destination] = splitDestination(paths);
      if (opts.versionId) return copyVersion(c, sources, destination, opts.versionId);
      if (destination === STD_STREAM || sources.includes(STD_STREAM))
        return copyStdStreams(c, sources, destination, opts);
      const dst = c.locations.open(destination);
      if (sources.length > 1 && !(dst.asFolder || (await isDir(dst)))) {
        throw new StorageError(
          'NotADirectory',
          `copying several sources needs a folder as destination: ${dst.display}`,
        );
      }
      const progress = new Progress({
        mode: Progress.modeFor(opts.json, opts.progress !== false, process.stderr),
        bar: process.stderr,
        out: c.out,
      });
      const event = (e: Record<string, unknown>) => {
        if (opts.json) c.out(JSON.stringify(e));
      };
      for (const source of sources) {
        const src = c.locations.open(source);
        const st = await src.storage.stat(src.path);
        if (st.type === 'dir') {
          if (!opts.recursive)
            throw new StorageError('IsADirectory', `${src.display} is a folder (use -r)`, {
              path: src.path,
            });
          if (opts.verify) throw new StorageError('NotSupported', '--verify is for single files so far');
          await copyTreeCommand(c, {
            src,
            dst,
            target: () => targetPath(src, dst),
            localToS3: !isS3Url(source) && isS3Url(destination),
            concurrency: opts.concurrency,
            verbose: opts.verbose,
            progress,
            signal: c.signal,
          });
          continue;
        }
        const to = await targetPath(src, dst);
        const toDisplay = displayPath(dst.storage, to);
        progress.expect(st.size);
        let sourceHash: string | undefined;
        // A local file going to S3: let the S3 backend make the upload resumable (upload-journal.ts).
        const resumable = !isS3Url(source) && isS3Url(destination);
        // With --checksum the SHA-256 is known before the upload starts: it goes into the
        // metadata of multipart uploads too, and the engine checks the bytes it sends against it.
        const declared =
          opts.checksum && resumable
            ? {
                metadata: {
                  ...st.metadata,
                  [SHA256_META]: await sha256Of(createReadStream(nodePath.resolve(source))),
                },
              }
            : {};
        const write: S3WriteOptions = resumable
          ? {
              ...declared,
              resumeSource: { path: nodePath.resolve(source), size: st.size, mtimeMs: st.mtime.getTime() },
              onUploaded: (r) => {
                if (!r.resumed) return;
                const kept = r.size - r.sentBytes;
                event({ event: 'resumed', bytes: r.size, kept, sent: r.sentBytes });
                c.warn(
                  `resumed an earlier upload: ${humanBytes(kept)} were already in S3 (checked), sent ${humanBytes(r.sentBytes)} of ${humanBytes(r.size)} (${r.sentBytes} bytes)`,
                );
              },
              onKept: (k) => {
                leftBehind = `kept the unfinished upload to ${toDisplay}: ${humanBytes(k.bytes)} of ${humanBytes(st.size)} (${k.bytes} bytes) are in S3; run the same command again to resume it, or discard it with \`ferry uploads abort ${toDisplay} --upload-id ${k.uploadId}\``;
              },
            }
          : {};
        // What an interruption left behind, said before the error propagates (main.ts).
        let leftBehind: string | undefined;
        try {
          if (src.storage.downloadTo && !isS3Url(destination) && st.size >= RESUMABLE_DOWNLOAD_FROM) {
            // A large file to a local file: the source backend's fast path (S3: ranged GETs in
            // parallel, each part written at its offset), resumable after an interruption.
            const file = nodePath.join('/', to);
            let have = 0;
            leftBehind = `nothing was written to ${file}`;
            const res = await src.storage.downloadTo(src.path, file, {
              known: st,
              signal: c.signal,
              onBytes: (n) => {
                have += n;
                leftBehind = `kept the partial download ${file}.ferry-download: ${humanBytes(have)} of ${humanBytes(st.size)} (${have} bytes); run the same command again to resume it, or discard it with \`rm ${file}.ferry-download ${file}.ferry-download.json\``;
                if (progress.active) progress.add(n);
              },
            });
            const fetched = st.size - res.resumedBytes;
            if (res.resumedBytes > 0) {
              event({ event: 'resumed', bytes: st.size, kept: res.resumedBytes, sent: fetched });
              c.warn(
                `resumed an interrupted download: ${humanBytes(res.resumedBytes)} were already on disk, fetched ${humanBytes(fetched)} of ${humanBytes(st.size)} (${fetched} bytes)`,
              );
            }
            if (opts.verify) {
              // The parts went straight into the file: the independent reference is the object's
              // own ferry-sha256 (already checked against the file), else a second read of it.
              sourceHash = st.metadata?.[SHA256_META] ?? (await sha256Of(await src.storage.read(src.path)));
            }
          } else
            await copyFile(src.storage, src.path, dst.storage, to, {
              known: st,
              signal: c.signal,
              // Without a bar the bytes are not counted: a local file then reaches the S3 engine as
              // an untouched file stream, which it reads directly (file-source.ts).
              onBytes: progress.active ? (n) => progress.add(n) : undefined,
              onSourceHash: opts.verify ? (h) => (sourceHash = h) : undefined,
              write,
            });
        } catch (err) {
          if (c.signal?.aborted) {
            // Not kept: the backend cleaned up (multipart upload aborted, partial file removed).
            c.warn(
              `ferry: ${leftBehind ?? `nothing of ${toDisplay} was kept (the partial copy was removed)`}`,
            );
          }
          throw err;
        }
        progress.fileDone();
        if (opts.verify) {
          // Read the copy back (an S3 read also checks the object's ferry-sha256, if any).
          const copied = await sha256Of(await dst.storage.read(to));
          if (copied !== sourceHash) throw checksumMismatch(dst.display, sourceHash ?? '?', copied);
          event({ event: 'verified', path: to, sha256: copied });
          if (!opts.json) c.warn(`verified: SHA-256 ${copied}`);
        }
        if (opts.verbose) c.out(`${src.display} -> ${to}`);
      }
      progress.finish();
    });
}
