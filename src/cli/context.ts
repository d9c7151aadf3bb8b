import type { Command } from 'commander';
import { type S3ConnectionInput, s3ConnectionFlags } from '../s3/connection.js';
import type { Locations } from './location.js';
import { parseBytes } from './output.js';

/** What every command gets: the storages named on its command line, and where to print. */
export interface CliContext {
  locations: Locations;
  out(line: string): void;
  warn(line: string): void;
  /** A text without the secrets this process was given (secrets.ts), for reports on stdout. */
  scrub(text: string): string;
  /**
   * Aborted on SIGINT/SIGTERM (main.ts): every operation gets it. A command that is interrupted
   * says what it left behind (and how to resume or discard it) before its error propagates.
   */
  signal?: AbortSignal;
  /** Set by a command whose outcome is not an exception (doctor finding no access). */
  exitCode?: number;
}

/** Global S3 flags, declared once in s3ConnectionFlags, plus `--connection NAME`. */
export function addS3Flags(program: Command): void {
  program.option('--connection <name>', 'a named connection from ~/.config/ferry/connections.json');
  for (const f of s3ConnectionFlags) {
    if (f.parse === 'keyValue') {
      program.option(f.flag, f.help, (v: string, prev: string[] = []) => [...prev, v]);
    } else program.option(f.flag, f.help);
  }
}

/** The connection options given as flags (only those given: a named connection fills the rest). */
export function s3OptionsFrom(opts: Record<string, unknown>): Partial<S3ConnectionInput> {
  const out: Record<string, unknown> = {};
  for (const f of s3ConnectionFlags) {
    const name = f.flag
      .replace(/^--/, '')
      .replace(/ .*/, '')
      .replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
    const v = opts[name];
    if (v === undefined) continue;
    if (f.value !== undefined) out[f.key] = f.value;
    else if (f.parse === 'bytes') out[f.key] = parseBytes(String(v));
    else if (f.parse === 'int') out[f.key] = Number.parseInt(String(v), 10);
    else if (f.parse === 'keyValue') out[f.key] = keyValues(v as string[]);
    else out[f.key] = v;
  }
  return out as Partial<S3ConnectionInput>;
}

function keyValues(list: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of list) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new Error(`expected name=value, got ${kv}`);
    out[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return out;
}
