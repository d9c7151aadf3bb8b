import { Command, CommanderError } from 'commander';
import { StorageError } from '../storage/errors.js';
import { registerAcl } from './commands/acl.js';
import { registerAdmin } from './commands/admin.js';
import { registerApiKey } from './commands/apikey.js';
import { registerBucket } from './commands/bucket.js';
import { registerCat } from './commands/cat.js';
import { registerConnection } from './commands/connection.js';
import { registerCp } from './commands/cp.js';
import { registerDoctor, registerWhoami } from './commands/doctor.js';
import { registerGroup } from './commands/group.js';
import { registerJob } from './commands/job.js';
import { registerLifecycle } from './commands/lifecycle.js';
import { registerLs } from './commands/ls.js';
import { registerMeta } from './commands/meta.js';
import { registerMkdir } from './commands/mkdir.js';
import { registerMount } from './commands/mount.js';
import { registerMv } from './commands/mv.js';
import { registerPresign } from './commands/presign.js';
import { registerRestore } from './commands/restore.js';
import { registerRm } from './commands/rm.js';
import { registerRmdir } from './commands/rmdir.js';
import { registerRule } from './commands/rule.js';
import { registerServe } from './commands/serve.js';
import { registerStat } from './commands/stat.js';
import { registerSync } from './commands/sync.js';
import { registerUploads } from './commands/uploads.js';
import { registerUser } from './commands/user.js';
import { registerVersions } from './commands/versions.js';
import { addS3Flags, type CliContext, s3OptionsFrom } from './context.js';
import { exitCodeFor } from './exit-codes.js';
import { Locations } from './location.js';
import { SecretScrubber } from './secrets.js';

// Ferry declares its own Node support (package.json engines); the SDK's notice is not for users.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

/** Run the CLI; resolves to the process exit code (see exit-codes.ts). */
export async function main(argv: string[]): Promise<number> {
  let context: CliContext | undefined;
  // Every message on stderr (ours, commander's) loses the secrets this process was given.
  const secrets = new SecretScrubber(argv);
  const shown = argv === process.argv ? secrets.commandLine(argv) : undefined;
  if (shown) process.title = shown; // what `ps` shows
  const interrupt = onInterrupt();
  const program = new Command('ferry')
    .description('S3 and local files as one file system — and (soon) the servers that share them')
    .version('0.1.0')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(secrets.scrub(s)) })
    .showHelpAfterError('(add --help for usage)');
  addS3Flags(program);
  const ctx = (): CliContext => {
    context ??= {
      locations: new Locations(
        s3OptionsFrom(program.opts()),
        program.opts().connection as string | undefined,
      ),
      out: (line) => {
        process.stdout.write(`${line}\n`);
      },
      warn: (line) => {
        process.stderr.write(`${secrets.scrub(line)}\n`);
      },
      scrub: (text) => secrets.scrub(text),
      signal: interrupt.signal,
    };
    return context;
  };
  for (const register of [
    registerLs,
    registerStat,
    registerCat,
    registerCp,
    registerSync,
    registerMv,
    registerRm,
    registerMkdir,
    registerRmdir,
    registerDoctor,
    registerWhoami,
    registerUploads,
    registerLifecycle,
    registerPresign,
    registerBucket,
    registerMeta,
    registerVersions,
    registerAcl,
    registerRestore,
    registerServe,
    registerUser,
    registerGroup,
    registerConnection,
    registerMount,
    registerApiKey,
    registerRule,
    registerAdmin,
    registerJob,
  ]) {
    register(program, ctx);
  }
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0); // `ferry ls | head`
  });
  try {
    await program.parseAsync(argv);
    return context?.exitCode ?? 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    if (interrupt.received) {
      // The command has unwound: what could be resumed was kept (and said), the rest cleaned up.
      process.stderr.write(`ferry: interrupted by ${interrupt.received}\n`);
      return interrupt.received === 'SIGINT' ? 130 : 143;
    }
    process.stderr.write(`ferry: ${secrets.scrub(describe(err))}\n`);
    return exitCodeFor(err);
  } finally {
    interrupt.dispose();
    await context?.locations.close();
  }
}

/**
 * SIGINT (Ctrl-C) and SIGTERM abort the signal every command passes to its operations, instead
 * of killing the process where it stands (which left multipart uploads and `.ferry-partial-*`
 * files behind, silently). The operations then unwind: uploads that can be resumed are kept,
 * others are aborted, partial local files are removed, and the command says what it left. A
 * second signal exits at once (exit code 128 + signal number: 130, 143).
 */
function onInterrupt() {
  const controller = new AbortController();
  const state = {
    signal: controller.signal,
    received: undefined as NodeJS.Signals | undefined,
    dispose: () => {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    },
  };
  const handler = (name: NodeJS.Signals) => {
    const code = name === 'SIGINT' ? 130 : 143;
    if (state.received) {
      process.stderr.write(`ferry: ${name} again: exiting without cleaning up\n`);
      process.exit(code);
    }
    state.received = name;
    process.stderr.write(`ferry: ${name}: stopping (again to exit at once)\n`);
    controller.abort(new DOMException(`interrupted by ${name}`, 'AbortError'));
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return state;
}

function describe(err: unknown): string {
  if (err instanceof StorageError) return err.message;
  if (err instanceof Error && err.name === 'ZodError') return `invalid option: ${err.message}`;
  return err instanceof Error ? err.message : String(err);
}

// `tsx src/cli/main.ts …` (npm run ferry) runs the CLI directly.
if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/\\/g, '/'))) {
  main(process.argv).then((code) => {
    process.exitCode = code;
  });
}
