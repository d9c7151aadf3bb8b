import { StorageError } from '../storage/errors.js';
import type { SyncOptions } from '../sync/types.js';

/**
 * The one-way sync flags, listed once: `ferry sync` and `ferry job add|set` take them (each
 * declares them with help in its own words), `ferry sync --bidirectional` refuses them by name
 * (sync-bisync.ts), `ferry job set` replaces a job's options when any is given.
 */
export interface OneWayFlags {
  mirror?: boolean;
  move?: boolean;
  checksum?: boolean;
  sizeOnly?: boolean;
  update?: boolean;
  appendOnly?: boolean;
  include?: string[];
  exclude?: string[];
}

/** Each one-way flag: its key in commander's options, and the flag as typed. */
export const ONE_WAY_FLAGS = [
  ['mirror', '--mirror'],
  ['move', '--move'],
  ['checksum', '--checksum'],
  ['sizeOnly', '--size-only'],
  ['update', '--update'],
  ['appendOnly', '--append-only'],
  ['include', '--include'],
  ['exclude', '--exclude'],
] as const satisfies readonly (readonly [keyof OneWayFlags, string])[];

/** The one-way flags given (not undefined, not false), as typed. */
export function oneWayFlagsGiven(flags: OneWayFlags): string[] {
  return ONE_WAY_FLAGS.filter(([k]) => flags[k] !== undefined && flags[k] !== false).map(([, f]) => f);
}

/** `--mirror`/`--move` and `--checksum`/`--size-only` as the plan's mode and compare; both of a pair is refused. */
export function modeAndCompare(flags: OneWayFlags): Pick<SyncOptions, 'mode' | 'compare'> {
  if (flags.mirror && flags.move)
    throw new StorageError('InvalidArgument', '--mirror and --move: choose one');
  if (flags.checksum && flags.sizeOnly)
    throw new StorageError('InvalidArgument', '--checksum and --size-only: choose one');
  return {
    mode: flags.mirror ? 'mirror' : flags.move ? 'move' : 'copy',
    compare: flags.checksum ? 'checksum' : flags.sizeOnly ? 'size' : 'size-mtime',
  };
}
