import type { Command } from 'commander';
import {
  abortIncompleteUploads,
  DEFAULT_PRICE_PER_GIB_MONTH,
  type IncompleteUpload,
  listIncompleteUploads,
  monthlyCost,
} from '../../s3/uploads.js';
import { StorageError } from '../../storage/errors.js';
import type { CliContext } from '../context.js';
import { humanBytes } from '../output.js';
import { openS3Target, parseDuration } from '../s3-target.js';

function uploadJson(u: IncompleteUpload, price: number) {
  return {
    key: u.key,
    uploadId: u.uploadId,
    started: u.initiated.toISOString(),
    ...(u.storageClass !== undefined && { storageClass: u.storageClass }),
    parts: u.parts,
    bytes: u.bytes,
    monthlyCostUsd: Number(monthlyCost(u.bytes ?? 0, price).toFixed(6)),
  };
}

/**
 * `ferry uploads ls|abort`: the unfinished multipart uploads of a bucket — stored and billed,
 * yet invisible in listings ("show partial uploads"), and what to do with them.
 */
export function registerUploads(program: Command, ctx: () => CliContext): void {
  const uploads = program
    .command('uploads')
    .description('unfinished (incomplete) multipart uploads: list them, abort them');

  uploads
    .command('ls')
    .description('list unfinished uploads: key, started, parts, bytes and an estimated monthly cost')
    .argument('<location>', 's3://bucket[/prefix]')
    .option('--json', 'one JSON object per line')
    .option(
      '--price <usd>',
      `storage price per GiB-month for the estimate (default ${DEFAULT_PRICE_PER_GIB_MONTH}, S3 Standard)`,
      Number.parseFloat,
    )
    .action(async (url: string, opts: { json?: boolean; price?: number }) => {
      const c = ctx();
      const t = openS3Target(c, url);
      const price = opts.price ?? DEFAULT_PRICE_PER_GIB_MONTH;
      let count = 0;
      let bytes = 0;
      try {
        await t.call('ListMultipartUploads', async () => {
          for await (const u of listIncompleteUploads(t.client, t.bucket, t.key, { withParts: true })) {
            count++;
            bytes += u.bytes ?? 0;
            if (opts.json) c.out(JSON.stringify(uploadJson(u, price)));
            else
              c.out(
                [
                  u.initiated.toISOString().replace('T', ' ').slice(0, 19),
                  String(u.parts ?? 0).padStart(6),
                  humanBytes(u.bytes ?? 0).padStart(9),
                  `$${monthlyCost(u.bytes ?? 0, price).toFixed(4)}/mo`.padStart(12),
                  u.key,
                  u.uploadId,
                ].join('  '),
              );
          }
        });
      } finally {
        t.close();
      }
      if (!opts.json && count > 0)
        c.warn(
          `${count} unfinished upload(s), ${humanBytes(bytes)}, about $${monthlyCost(bytes, price).toFixed(4)} a month`,
        );
    });

  uploads
    .command('abort')
    .description('abort unfinished uploads: one (--upload-id), or all under a prefix (--all / --older-than)')
    .argument('<location>', 's3://bucket/key with --upload-id, else s3://bucket[/prefix]')
    .option('--upload-id <id>', 'abort only this upload of the key the location names')
    .option('--older-than <age>', 'only uploads started longer ago than this (7d, 12h, 30m)')
    .option('--all', 'every unfinished upload under the location (needed without --older-than)')
    .option('--json', 'one JSON object per aborted upload')
    .action(
      async (url: string, opts: { uploadId?: string; olderThan?: string; all?: boolean; json?: boolean }) => {
        const c = ctx();
        if (!opts.uploadId && !opts.olderThan && !opts.all) {
          throw new StorageError(
            'InvalidArgument',
            'say which uploads to abort: --upload-id <id>, --older-than <age> or --all',
          );
        }
        const t = openS3Target(c, url);
        const startedBefore =
          opts.olderThan !== undefined ? new Date(Date.now() - parseDuration(opts.olderThan)) : undefined;
        try {
          const aborted = await t.call('AbortMultipartUpload', () =>
            abortIncompleteUploads(t.client, t.bucket, t.key, {
              startedBefore,
              key: opts.uploadId ? t.key : undefined,
              uploadId: opts.uploadId,
            }),
          );
          if (opts.uploadId && aborted.length === 0) {
            throw new StorageError(
              'NotFound',
              `no unfinished upload ${opts.uploadId} of s3://${t.bucket}/${t.key}`,
            );
          }
          for (const u of aborted) {
            c.out(
              opts.json
                ? JSON.stringify({ aborted: u.key, uploadId: u.uploadId })
                : `aborted ${u.key} ${u.uploadId}`,
            );
          }
          if (!opts.json) c.warn(`${aborted.length} upload(s) aborted`);
        } finally {
          t.close();
        }
      },
    );
}
