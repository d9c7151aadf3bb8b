import type { Command } from 'commander';
import { type S3ConnectionInput, s3ConnectionFlags } from '../s3/connection.js';
import type { Locations } from './location.js';
import { parseBytes } from './output.js';

/** What every command gets: the storages named on its command line, and where to print. */
export interface CliContext {
  locations: Locations;
  out(line: string): void;
  warn(line: string): void;
}

/** Global S3 flags, declared once in s3ConnectionFlags. */
export function addS3Flags(program: Command): void {
  for (const f of s3ConnectionFlags) program.option(f.flag, f.help);
}

export function s3OptionsFrom(opts: Record<string, unknown>): Partial<S3ConnectionInput> {
  const out: Record<string, unknown> = {};
  for (const f of s3ConnectionFlags) {
    const name = f.flag
      .replace(/^--/, '')
      .replace(/ .*/, '')
      .replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    const v = opts[name];
    if (v === undefined) continue;
    if ('value' in f) out[f.key] = f.value;
    else if ('parse' in f && f.parse === 'bytes') out[f.key] = parseBytes(String(v));
    else if ('parse' in f && f.parse === 'int') out[f.key] = Number.parseInt(String(v), 10);
    else out[f.key] = v;
  }
  return out as Partial<S3ConnectionInput>;
}
