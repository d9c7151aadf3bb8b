import type { Command } from 'commander';
import { StorageError } from '../../storage/errors.js';
import type { CliContext } from '../context.js';
import type { Location } from '../location.js';
import { parseDuration } from '../s3-target.js';

/** `ferry presign LOC` and `ferry url LOC`: links to one file on S3 (src/s3/presign.ts). */
export function registerPresign(program: Command, ctx: () => CliContext): void {
  program
    .command('presign')
    .description(
      'a presigned URL of an S3 file: anyone holding it may download (or upload) it until it expires',
    )
    .argument('<location>', 's3://bucket/key')
    .option('--expires <duration>', 'how long the URL works: 900, 15m, 1h, 24h, up to 7d', '1h')
    .option('--method <method>', 'GET (download) or PUT (upload)', 'GET')
    .option('--content-type <type>', 'PUT: the Content-Type the uploader must send')
    .option('--json', 'as JSON: url, method, expiresAt, headers')
    .addHelpText(
      'after',
      '\nSignature V4 limits a presigned URL to 7 days; URLs signed with temporary credentials (a role,\nSSO, instance metadata) stop working when those expire, which is said when it comes first.',
    )
    .action(
      async (
        arg: string,
        opts: { expires: string; method: string; contentType?: string; json?: boolean },
      ) => {
        const c = ctx();
        const method = opts.method.toUpperCase();
        if (method !== 'GET' && method !== 'PUT')
          throw new StorageError('InvalidArgument', `--method must be GET or PUT, got ${opts.method}`);
        const loc = s3File(c, arg, 'presign');
        const signed = await loc.storage.presign!(loc.path, {
          method,
          expiresIn: Math.round(parseDuration(opts.expires) / 1000),
          contentType: opts.contentType,
        });
        if (opts.json) {
          c.out(JSON.stringify({ ...signed, expiresAt: signed.expiresAt.toISOString() }));
          return;
        }
        c.out(signed.url);
        const headers = Object.entries(signed.headers);
        if (headers.length)
          c.warn(`send these headers with it: ${headers.map(([k, v]) => `${k}: ${v}`).join('; ')}`);
        if (signed.credentialsExpireAt)
          c.warn(
            `note: signed with temporary credentials, so the URL stops working at ${signed.credentialsExpireAt.toISOString()}, before the ${opts.expires} asked`,
          );
      },
    );
  program
    .command('url')
    .description('the plain (unsigned) URL of an S3 file: it answers only if the object is public')
    .argument('<location>', 's3://bucket/key')
    .action(async (arg: string) => {
      const c = ctx();
      const loc = s3File(c, arg, 'url');
      c.out(await loc.storage.publicUrl!(loc.path));
    });
}

function s3File(c: CliContext, arg: string, command: string): Location {
  const loc = c.locations.open(arg);
  if (!loc.storage.presign || !loc.storage.publicUrl)
    throw new StorageError('InvalidArgument', `${command} needs an s3:// location, got ${arg}`);
  return loc;
}
