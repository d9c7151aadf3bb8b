import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { StorageError } from '../storage/errors.js';
import {
  connectionFromUrl,
  parseConnection,
  type S3Connection,
  type S3ConnectionInput,
} from './connection.js';

/**
 * Named connections, kept in a JSON file so no parser dependency is needed:
 * `$FERRY_CONNECTIONS`, else `$XDG_CONFIG_HOME/ferry/connections.json`, else
 * `~/.config/ferry/connections.json`. Each entry is a connection (the fields of
 * s3ConnectionSchema), optionally with a `url` (`s3://bucket/prefix`) that gives bucket and prefix:
 * ```json
 * { "backup": { "url": "s3://backups/ferry", "endpoint": "https://s3.example.com",
 *               "profile": "backup", "sse": "AES256", "storageClass": "STANDARD_IA" } }
 * ```
 */
export function connectionsFilePath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.FERRY_CONNECTIONS) return env.FERRY_CONNECTIONS;
  const base = env.XDG_CONFIG_HOME || join(env.HOME || homedir(), '.config');
  return join(base, 'ferry', 'connections.json');
}

export type NamedConnectionInput = Partial<S3ConnectionInput> & { url?: string };

/** Every entry of the connections file (none when the file does not exist). */
export function readConnectionsFile(
  env: NodeJS.ProcessEnv = process.env,
): Record<string, NamedConnectionInput> {
  const path = connectionsFilePath(env);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new StorageError('InvalidArgument', `cannot read ${path}: ${(err as Error).message}`);
  }
  try {
    const data = JSON.parse(text) as unknown;
    if (!data || typeof data !== 'object' || Array.isArray(data)) throw new Error('expected an object');
    return data as Record<string, NamedConnectionInput>;
  } catch (err) {
    throw new StorageError('InvalidArgument', `${path} is not valid JSON: ${(err as Error).message}`);
  }
}

/** The settings of a named connection, as input for connectionFromUrl or parseConnection. */
export function namedConnectionInput(
  name: string,
  env: NodeJS.ProcessEnv = process.env,
): NamedConnectionInput {
  const all = readConnectionsFile(env);
  const entry = all[name];
  if (!entry) {
    const known = Object.keys(all);
    throw new StorageError(
      'NotFound',
      `no connection named "${name}" in ${connectionsFilePath(env)}${known.length ? ` (known: ${known.join(', ')})` : ''}`,
    );
  }
  return entry;
}

/**
 * A named connection, validated; `overrides` (command-line flags) win over the file. With a URL
 * in the entry, bucket and prefix come from it.
 */
export function namedConnection(
  name: string,
  overrides: Partial<S3ConnectionInput> = {},
  env: NodeJS.ProcessEnv = process.env,
): S3Connection {
  const { url, ...fields } = namedConnectionInput(name, env);
  const merged = { ...fields, ...overrides };
  if (url) return connectionFromUrl(url, merged, env);
  return parseConnection(merged);
}
