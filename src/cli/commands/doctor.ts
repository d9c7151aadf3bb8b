import type { Command } from 'commander';
import { connectionFromUrl, type S3Connection } from '../../s3/connection.js';
import { namedConnection } from '../../s3/connections-file.js';
import { credentialsFor } from '../../s3/credentials/chain.js';
import { maskKey } from '../../s3/credentials/static.js';
import { getCallerIdentity } from '../../s3/credentials/sts.js';
import { doctorExitCode, runDoctor } from '../../s3/doctor.js';
import { isS3Url } from '../../s3/url.js';
import { StorageError } from '../../storage/errors.js';
import { type CliContext, s3OptionsFrom } from '../context.js';
import { formatDoctor } from '../doctor-format.js';

/** The connection a doctor/whoami argument names: an s3:// URL, a connection name, or --connection. */
function connectionFor(program: Command, target: string | undefined): S3Connection {
  const flags = s3OptionsFrom(program.opts());
  const named = program.opts().connection as string | undefined;
  if (target && isS3Url(target)) {
    const base = named ? { ...namedSettings(named), ...flags } : flags;
    return connectionFromUrl(target, base);
  }
  const name = target ?? named;
  if (!name)
    throw new StorageError(
      'InvalidArgument',
      'name an s3:// URL or a connection (or pass --connection NAME)',
    );
  return namedConnection(name, flags);
}

function namedSettings(name: string) {
  const { bucket: _b, prefix: _p, ...rest } = namedConnection(name);
  return rest;
}

export function registerDoctor(program: Command, ctx: () => CliContext): void {
  program
    .command('doctor')
    .description(
      'check an S3 connection: credentials, identity, region, permissions (with the IAM actions to grant), what the store supports',
    )
    .argument('[target]', 's3://bucket/prefix or a connection name')
    .option('--json', 'the report as JSON')
    .action(async (target: string | undefined, opts: { json?: boolean }) => {
      const c = ctx();
      const report = await runDoctor(connectionFor(program, target));
      // A report, not data: endpoints and store messages in it may hold credentials.
      if (opts.json) c.out(c.scrub(JSON.stringify(report, null, 2)));
      else for (const line of formatDoctor(report)) c.out(c.scrub(line));
      c.exitCode = doctorExitCode(report);
    });
}

export function registerWhoami(program: Command, ctx: () => CliContext): void {
  program
    .command('whoami')
    .description('which credential source answers for a connection, the identity and when it expires')
    .argument('[target]', 's3://bucket/prefix or a connection name')
    .option('--json', 'as JSON')
    .action(async (target: string | undefined, opts: { json?: boolean }) => {
      const c = ctx();
      const conn = connectionFor(
        program,
        target ?? (program.opts().connection ? undefined : 's3://ferry-whoami'),
      );
      const creds = credentialsFor(conn);
      const out: Record<string, unknown> = {};
      if (!creds.provider) out.source = 'anonymous';
      else {
        const k = await creds.provider();
        const src = creds.source();
        Object.assign(out, {
          source: src?.name,
          detail: src?.detail,
          accessKey: maskKey(k.accessKeyId),
          expiration: k.expiration?.toISOString() ?? null,
        });
        try {
          out.identity = await getCallerIdentity(creds.identitySts, creds.provider);
        } catch (err) {
          out.identity = { error: (err as Error).message };
        }
      }
      if (opts.json) c.out(c.scrub(JSON.stringify(out, null, 2)));
      else
        for (const [k, v] of Object.entries(out))
          c.out(c.scrub(`${k.padEnd(11)} ${typeof v === 'object' && v ? JSON.stringify(v) : String(v)}`));
    });
}
