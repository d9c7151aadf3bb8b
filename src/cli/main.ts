import { Command, CommanderError, type Command as CommandT } from 'commander';
import { StorageError } from '../storage/errors.js';
import { tuneGc } from '../util/gc-tuning.js';
import { addS3Flags, type CliContext, s3OptionsFrom } from './context.js';
import { exitCodeFor } from './exit-codes.js';
import type { Locations as LocationsT } from './location.js';
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
  if (argv === process.argv) tuneGc(); // this process is Ferry's own (not a test calling main)
  const interrupt = onInterrupt();
  const program = new Command('ferry')
    .description(
      'S3 and local files as one file system, and the servers that share them (ferry serve: SFTP, SCP, HTTP)',
    )
    .version('0.1.0')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(secrets.scrub(s)) })
    .showHelpAfterError('(add --help for usage)');
  addS3Flags(program);
  const ctx = (): CliContext => {
    if (!Locations) throw new Error('internal: a command ran without its modules');
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
  const registers = await registersFor(program, argv.slice(2));
  // The S3 SDK comes with location.js: not loaded for `ferry --version`, which runs no command.
  let Locations: typeof LocationsT | undefined;
  if (registers.length > 0) ({ Locations } = await import('./location.js'));
  for (const register of registers) register(program, ctx);
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

type Register = (program: CommandT, ctx: () => CliContext) => void;

/**
 * Every top-level command, in `ferry --help` order, with the module that registers it. Start-up
 * imports only the module of the command on the command line (`ferry ls` never loads the server,
 * the accounts model, ssh2 or fastify); `--help`, `help`, no command or an unknown one load them all.
 */
export const commandModules: { names: string[]; load: () => Promise<Register[]> }[] = [
  { names: ['ls'], load: async () => [(await import('./commands/ls.js')).registerLs] },
  { names: ['stat'], load: async () => [(await import('./commands/stat.js')).registerStat] },
  { names: ['cat'], load: async () => [(await import('./commands/cat.js')).registerCat] },
  { names: ['cp'], load: async () => [(await import('./commands/cp.js')).registerCp] },
  { names: ['sync'], load: async () => [(await import('./commands/sync.js')).registerSync] },
  { names: ['mv'], load: async () => [(await import('./commands/mv.js')).registerMv] },
  { names: ['rm'], load: async () => [(await import('./commands/rm.js')).registerRm] },
  { names: ['mkdir'], load: async () => [(await import('./commands/mkdir.js')).registerMkdir] },
  { names: ['rmdir'], load: async () => [(await import('./commands/rmdir.js')).registerRmdir] },
  { names: ['doctor'], load: async () => [(await import('./commands/doctor.js')).registerDoctor] },
  { names: ['whoami'], load: async () => [(await import('./commands/doctor.js')).registerWhoami] },
  { names: ['uploads'], load: async () => [(await import('./commands/uploads.js')).registerUploads] },
  {
    names: ['lifecycle'],
    load: async () => [(await import('./commands/lifecycle.js')).registerLifecycle],
  },
  { names: ['presign', 'url'], load: async () => [(await import('./commands/presign.js')).registerPresign] },
  {
    names: ['mb', 'rb', 'bucket'],
    load: async () => [(await import('./commands/bucket.js')).registerBucket],
  },
  { names: ['meta', 'set-class'], load: async () => [(await import('./commands/meta.js')).registerMeta] },
  { names: ['versions'], load: async () => [(await import('./commands/versions.js')).registerVersions] },
  { names: ['acl'], load: async () => [(await import('./commands/acl.js')).registerAcl] },
  { names: ['restore'], load: async () => [(await import('./commands/restore.js')).registerRestore] },
  { names: ['serve'], load: async () => [(await import('./commands/serve.js')).registerServe] },
  { names: ['user'], load: async () => [(await import('./commands/user.js')).registerUser] },
  { names: ['group'], load: async () => [(await import('./commands/group.js')).registerGroup] },
  {
    names: ['connection'],
    load: async () => [(await import('./commands/connection.js')).registerConnection],
  },
  { names: ['mount'], load: async () => [(await import('./commands/mount.js')).registerMount] },
  { names: ['apikey'], load: async () => [(await import('./commands/apikey.js')).registerApiKey] },
  { names: ['rule'], load: async () => [(await import('./commands/rule.js')).registerRule] },
  { names: ['admin'], load: async () => [(await import('./commands/admin.js')).registerAdmin] },
  { names: ['job'], load: async () => [(await import('./commands/job.js')).registerJob] },
];

/** All registers, in --help order. */
export async function allRegisters(): Promise<Register[]> {
  return (await Promise.all(commandModules.map((m) => m.load()))).flat();
}

/**
 * The registers this command line needs: the command named by the first word that is neither a
 * global option nor its value. `ferry --version` alone needs none.
 */
async function registersFor(program: CommandT, args: string[]): Promise<Register[]> {
  const name = commandWord(program, args);
  if (name === undefined) {
    const version = args.some((a) => a === '--version' || a === '-V');
    const help = args.some((a) => a === '--help' || a === '-h');
    return version && !help ? [] : allRegisters();
  }
  const module = name === null ? undefined : commandModules.find((m) => m.names.includes(name));
  return module ? module.load() : allRegisters();
}

/** The command word; undefined when there is none, null when the line cannot be read here. */
function commandWord(program: CommandT, args: string[]): string | undefined | null {
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a === '--') return null;
    if (!a.startsWith('-') || a === '-') return a;
    if (a === '--help' || a === '-h') continue;
    const flag = a.startsWith('--') ? a.replace(/=.*/, '') : a;
    const option = program.options.find((o) => o.long === flag || o.short === flag);
    if (!option) return null; // commander says what is wrong, with every command loaded
    if (a.includes('=') && a.startsWith('--')) continue;
    if (option.required) i++;
    else if (option.optional && args[i + 1] !== undefined && !args[i + 1]?.startsWith('-')) i++;
  }
  return undefined;
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
