import { type DestinationStream, type Logger, pino } from 'pino';

/** Field names whose values are secrets wherever they appear in a logged object. */
const SECRET_KEYS = [
  'password',
  'secret',
  'secretAccessKey',
  'sessionToken',
  'sseCustomerKey',
  'proxyPassword',
  'token',
  'apiKey',
  'authorization',
  'cookie',
  'set-cookie',
];

/** Every secret key at the top level and up to three levels down (pino paths have no `**`). */
function redactPaths(): string[] {
  const paths: string[] = [];
  for (const key of SECRET_KEYS) {
    const k = /^[A-Za-z_$][\w$]*$/.test(key) ? key : `["${key}"]`;
    const dot = k.startsWith('[') ? '' : '.';
    paths.push(k, `*${dot}${k}`, `*.*${dot}${k}`, `*.*.*${dot}${k}`);
  }
  return paths;
}

export interface LoggerOptions {
  /** pino level (default `info`). */
  level?: string;
  /** Where the JSON lines go (default stdout); tests pass a stream to read them. */
  destination?: DestinationStream;
}

/**
 * The server's logger: pino JSON lines. Secrets never reach a line: the Authorization, Cookie and
 * Set-Cookie headers and every field named like a secret (password, secret, token, …) are
 * replaced by `[redacted]`, at any depth up to four levels (a request's headers are two).
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  return pino(
    {
      level: options.level ?? 'info',
      redact: { paths: redactPaths(), censor: '[redacted]' },
      base: { service: 'ferry' },
    },
    options.destination ?? pino.destination(1),
  );
}
