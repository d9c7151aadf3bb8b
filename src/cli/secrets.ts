import { redactText } from '../s3/url.js';

/** Flags whose value is a secret (the `--flag value` and `--flag=value` spellings). */
const SECRET_FLAGS = [
  '--secret-key',
  '--session-token',
  '--sse-c-key',
  '--password',
  '--api-key',
  '--proxy-password',
];
/** Environment variables holding a URL whose password is a secret (the proxy's, the store's). */
const URL_ENV = [
  'https_proxy',
  'HTTPS_PROXY',
  'http_proxy',
  'HTTP_PROXY',
  'all_proxy',
  'ALL_PROXY',
  'FERRY_DATABASE',
];
/** Environment variables holding secrets. */
const SECRET_ENV = [
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_CONTAINER_AUTHORIZATION_TOKEN',
  'FERRY_SECRET_KEY',
  'FERRY_ADMIN_PASSWORD',
  'FERRY_API_KEY',
];
/** Shorter values are not scrubbed literally: they would mangle ordinary words. */
const MIN_LENGTH = 4;

/**
 * The last line of defence before a message reaches the terminal: every `scheme://KEY:SECRET@`
 * loses its secret (redactText), and every secret this process was given — in a URL's
 * credentials (as written and decoded), a secret flag, or the environment — is replaced by `***`
 * wherever it appears, whatever code built the message. Messages should not carry secrets in the
 * first place (locations are shown by their display form); this catches what slips through.
 * Applied to errors and warnings (stderr), not to data (listings, file contents on stdout).
 */
export class SecretScrubber {
  private readonly secrets: string[];

  constructor(argv: string[], env: NodeJS.ProcessEnv = process.env) {
    const found = new Set<string>();
    const add = (s: string | undefined) => {
      if (!s) return;
      found.add(s);
      try {
        found.add(decodeURIComponent(s));
      } catch {
        // as written is enough
      }
      found.add(encodeURIComponent(s));
    };
    const urlPassword = (value: string | undefined) => {
      const m = value && /^(?:[a-z][a-z0-9+.-]*:\/\/)?[^/:@]*:([^@/]*)@/i.exec(value);
      if (m) add(m[1]);
    };
    for (const name of URL_ENV) urlPassword(env[name]);
    argv.forEach((arg, i) => {
      if (arg === '--proxy') urlPassword(argv[i + 1]);
      else if (arg.startsWith('--proxy=')) urlPassword(arg.slice('--proxy='.length));
      // Credentials of any URL: up to the first `@` (as parseS3Url reads them) and up to the
      // last `@` before the path (what a user with a raw `@` in the secret meant). An s3 scheme
      // with a slash or its colon missing (`s3:/KEY:SECRET@…`, `s3:KEY:…`, `s3//KEY:SECRET@…`) is
      // no URL, so a local path, and its "no such file" names it whole: its secret is scrubbed too.
      const m = /^(?:[a-z][a-z0-9+.-]*:\/\/|s3(?:\+https?)?(?::\/?|\/\/))[^/:@]+:(.*)$/is.exec(arg);
      if (m) {
        const rest = m[1]!;
        const first = rest.indexOf('@');
        if (first >= 0) add(rest.slice(0, first));
        const slash = rest.indexOf('/', first + 1);
        const last = rest.lastIndexOf('@', slash < 0 ? rest.length : slash);
        if (last > first) add(rest.slice(0, last));
      }
      for (const flag of SECRET_FLAGS) {
        if (arg === flag) add(argv[i + 1]);
        else if (arg.startsWith(`${flag}=`)) add(arg.slice(flag.length + 1));
      }
    });
    for (const name of SECRET_ENV) add(env[name]);
    // Longest first, so that a secret containing another is replaced whole.
    this.secrets = [...found].filter((s) => s.length >= MIN_LENGTH).sort((a, b) => b.length - a.length);
  }

  /**
   * The command line as `ps` should show it, or undefined when it holds no secret. (It is the
   * process's title: on Linux and macOS setting process.title overwrites the argv that
   * /proc/PID/cmdline and ps read. Before Ferry starts, the original is visible for a moment.)
   */
  commandLine(argv: string[]): string | undefined {
    const args = argv.slice(2).map((a) => this.scrub(a));
    if (args.every((a, i) => a === argv[i + 2])) return undefined;
    return ['ferry', ...args].join(' ');
  }

  scrub(text: string): string {
    let out = redactText(text);
    for (const s of this.secrets) out = out.split(s).join('***');
    return out;
  }
}
