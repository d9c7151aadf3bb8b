import * as nodePath from 'node:path';
import { StorageError } from '../storage/errors.js';
import { copyTree, type TreeOptions } from '../storage/operations.js';
import type { S3WriteOptions } from '../storage/s3/s3-storage.js';
import type { CliContext } from './context.js';
import { displayPath, type Location } from './location.js';
import { humanBytes } from './output.js';
import type { Progress } from './progress.js';
import { alreadyCopied, TreeCopyRecord } from './tree-copy-record.js';

export interface TreeCopyRequest {
  src: Location;
  dst: Location;
  /** Where cp(1)'s rule puts the tree when no earlier run of this command was interrupted. */
  target: () => Promise<string>;
  /** The local files being copied to S3: their uploads are made resumable. */
  localToS3: boolean;
  concurrency?: number;
  verbose?: boolean;
  progress: Progress;
  signal?: AbortSignal;
  /**
   * `mv` moves instead (its operation: `move`, copyTree then removing the source); the record is
   * then a different one from cp's, and the messages say "move".
   */
  move?: (target: string, options: TreeOptions) => Promise<void>;
}

/**
 * `ferry cp -r`, idempotent as `aws s3 cp --recursive` and `rclone copy` are: an interrupted run
 * (Ctrl-C, SIGKILL, a failure) keeps its record (tree-copy-record.ts), and the same command run
 * again goes to the same target, skips the files already complete there (same size and mtime)
 * and resumes the multipart uploads the interrupted run left (each local file is passed as the
 * upload's resumable source, as a single-file cp does; see upload-journal.ts). On an interruption
 * it says what it left behind and how to finish or undo it.
 */
export async function copyTreeCommand(c: CliContext, req: TreeCopyRequest): Promise<void> {
  const { src, dst, progress } = req;
  const verb = req.move ? 'move' : 'copy';
  const record = new TreeCopyRecord([
    verb,
    src.storage.description,
    src.path,
    dst.storage.description,
    dst.path,
    dst.asFolder,
    c.locations.s3Settings().endpoint ?? process.env.AWS_ENDPOINT_URL ?? '',
  ]);
  const earlier = await record.read();
  const where = (p: string) => displayPath(dst.storage, p);
  let target: string;
  let fresh: boolean;
  if (earlier) {
    ({ target, fresh } = earlier);
    c.warn(
      `continuing an interrupted ${verb} of ${src.display} into ${where(target)} (started ${earlier.started}): files already there with the same size and time are skipped`,
    );
  } else {
    target = await req.target();
    fresh = !(await exists(dst, target));
    await record.write({
      source: src.display,
      destination: dst.display,
      target,
      fresh,
      started: new Date().toISOString(),
    });
  }
  let copied = 0;
  let copiedBytes = 0;
  let skipped = 0;
  let resumed = 0;
  const files = new Set<string>();
  const kept: { to: string; uploadId: string; bytes: number }[] = [];
  const run =
    req.move ?? ((to: string, o: TreeOptions) => copyTree(src.storage, src.path, dst.storage, to, o));
  try {
    await run(target, {
      concurrency: req.concurrency,
      signal: req.signal,
      onBytes: progress.active ? (n) => progress.add(n) : undefined,
      beforeFile: async (e, to) => {
        if (earlier && (await alreadyCopied(src.storage, e, dst.storage, to))) {
          skipped++;
          return { skip: true };
        }
        if (!req.localToS3) return undefined;
        const write: S3WriteOptions = {
          resumeSource: { path: nodePath.join('/', e.path), size: e.size, mtimeMs: e.mtime.getTime() },
          onUploaded: (r) => {
            if (!r.resumed) return;
            resumed++;
            c.warn(
              `resumed an earlier upload of ${where(to)}: ${humanBytes(r.size - r.sentBytes)} were already in S3 (checked), sent ${humanBytes(r.sentBytes)}`,
            );
          },
          onKept: (k) => kept.push({ to, ...k }),
        };
        return { write: write as Record<string, unknown> };
      },
      onFile: (e, to) => {
        files.add(to);
        copied++;
        copiedBytes += e.size;
        progress.fileDone();
        if (req.verbose) c.out(`${e.path} -> ${to}`);
      },
    });
  } catch (err) {
    // The record stays: the same command finishes the job.
    const undo = fresh
      ? `to give up instead, \`ferry rm -r ${where(target)}\` removes what it copied`
      : `${where(target)} existed before: the files copied so far are mixed with what was there`;
    c.warn(
      `ferry: the ${verb} of ${src.display} into ${where(target)} stopped after ${copied} files (${humanBytes(copiedBytes)}), which are kept; run the same command again to finish it (complete files are skipped); ${undo}`,
    );
    for (const k of kept) {
      c.warn(
        `ferry: kept the unfinished upload to ${where(k.to)}: ${humanBytes(k.bytes)} (${k.bytes} bytes) are in S3; the same command resumes it, \`ferry uploads abort ${where(k.to)} --upload-id ${k.uploadId}\` discards it`,
      );
    }
    throw err;
  }
  if (earlier && dst.storage.abortUnfinishedWrites) {
    // What the interrupted run began and this run did not resume (an S3 upload begun just before
    // the kill, before its journal entry was written; a local partial file a SIGKILL left): abort
    // it, or S3 keeps its parts for ever and the hidden partial file stays. Only the
    // files of this copy, begun since it started (a minute of slack for the server's clock).
    const aborted = await dst.storage.abortUnfinishedWrites(target, {
      since: new Date(Date.parse(earlier.started) - 60_000),
      only: (p) => files.has(p),
    });
    if (aborted > 0) {
      c.warn(`aborted ${aborted} unfinished writes the interrupted run had left (uploads, partial files)`);
    }
  }
  await record.remove();
  if (skipped > 0 || resumed > 0) {
    c.warn(
      `finished the interrupted ${verb}: ${skipped} files were already complete, ${resumed} uploads resumed`,
    );
  }
}

async function exists(loc: Location, path: string): Promise<boolean> {
  try {
    await loc.storage.stat(path);
    return true;
  } catch (err) {
    if (StorageError.is(err, 'NotFound')) return false;
    throw err;
  }
}
